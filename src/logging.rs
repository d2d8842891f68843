//! Logging through `tracing`, written as runc writes it: one line per
//! event, either logrus-style text (`time="…" level=error msg="…"`) or JSON
//! (`{"level":"error","msg":"…","time":"…"}`), to `--log` or stderr.
//!
//! A small `Layer` formats each event into one buffer and writes it with a
//! single `write` call; no thread is started (berth stays single-threaded
//! until it execs the container).

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{Layer, Registry};

/// Output format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

enum Sink {
    Stderr,
    File(File),
}

struct RuncLayer {
    format: Format,
    max: Level,
    sink: Mutex<Sink>,
}

#[derive(Default)]
struct Fields {
    message: String,
    extra: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.extra, " {}={}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.extra, " {}={:?}", field.name(), value);
        }
    }
}

fn level_name(l: &Level) -> &'static str {
    match *l {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// Formats one log line (pure; used by the layer and the tests).
pub fn format_line(format: Format, level: &Level, msg: &str, time: &str) -> String {
    match format {
        Format::Json => {
            let v = serde_json::json!({"level": level_name(level), "msg": msg, "time": time});
            format!("{v}\n")
        }
        Format::Text => {
            let quoted = serde_json::to_string(msg).unwrap_or_else(|_| format!("{msg:?}"));
            format!("time=\"{time}\" level={} msg={quoted}\n", level_name(level))
        }
    }
}

impl<S: Subscriber> Layer<S> for RuncLayer {
    // The level is fixed for the process: events above it are turned off
    // at their call sites (no registration, no formatting), not filtered
    // one by one.
    fn register_callsite(&self, metadata: &'static tracing::Metadata<'static>) -> Interest {
        if *metadata.level() <= self.max {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::from_level(self.max))
    }

    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        *metadata.level() <= self.max
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if *event.metadata().level() > self.max {
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        let msg = format!("{}{}", f.message, f.extra);
        let line = format_line(
            self.format,
            event.metadata().level(),
            &msg,
            &crate::timefmt::now(),
        );
        if let Ok(mut sink) = self.sink.lock() {
            let _ = match &mut *sink {
                Sink::Stderr => std::io::stderr().write_all(line.as_bytes()),
                Sink::File(file) => file.write_all(line.as_bytes()),
            };
        }
    }
}

/// Installs the global subscriber. Returns whether logs go to stderr (so
/// the CLI does not print a failure twice).
pub fn init(log: Option<&Path>, format: Format, debug: bool) -> std::io::Result<bool> {
    let sink = match log {
        Some(p) if p != Path::new("/dev/stderr") => {
            Sink::File(OpenOptions::new().create(true).append(true).open(p)?)
        }
        _ => Sink::Stderr,
    };
    let to_stderr = matches!(sink, Sink::Stderr);
    let layer = RuncLayer {
        format,
        max: if debug { Level::DEBUG } else { Level::INFO },
        sink: Mutex::new(sink),
    };
    let _ = tracing::subscriber::set_global_default(Registry::default().with(layer));
    Ok(to_stderr)
}

/// Times one launch phase; logs its duration at debug level when dropped.
#[derive(Debug)]
pub struct Phase {
    name: &'static str,
    start: Instant,
}

impl Phase {
    pub fn start(name: &'static str) -> Self {
        Self {
            name,
            start: Instant::now(),
        }
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        tracing::debug!(
            "phase {} took {}us",
            self.name,
            self.start.elapsed().as_micros()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_have_runcs_keys() {
        let line = format_line(
            Format::Json,
            &Level::ERROR,
            "container does not exist",
            "2024-01-01T00:00:00Z",
        );
        assert_eq!(
            line,
            "{\"level\":\"error\",\"msg\":\"container does not exist\",\"time\":\"2024-01-01T00:00:00Z\"}\n"
        );
        let v: serde_json::Value = serde_json::from_str(&line).expect("json");
        assert_eq!(v["level"], "error");
    }

    #[test]
    fn text_lines_quote_the_message() {
        let line = format_line(Format::Text, &Level::WARN, "say \"hi\"", "T");
        assert_eq!(line, "time=\"T\" level=warning msg=\"say \\\"hi\\\"\"\n");
    }
}
