//! Logging with `tracing`, at frp's `log.level`:
//! - to the systemd journal, natively, when stderr is the journal (`JOURNAL_STREAM` names
//!   stderr's device and inode, as systemd sets it for services) and no log file is configured,
//!   or when `log.to = "journald"`:
//!   `SYSLOG_IDENTIFIER` is the program name, priorities follow syslog (info = 6), and event fields
//!   become journal fields people filter on (`journalctl -u frps PROXY_NAME=ssh`);
//! - otherwise to the console, or to the `log.to` file, rotated daily and pruned after
//!   `log.maxDays` days as frp does it (see [`super::logfile`]).
//!
//! The level can change at run time ([`set_level`], for a config reload).

use std::fmt::{self, Write as _};
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

use super::logfile::RotatingFile;
use crate::config::types::{LogConfig, LOG_LEVELS};
use crate::escape::Escaping;

/// What [`set_level`] needs, set by [`init`].
struct LevelControl {
    handle: reload::Handle<EnvFilter, Registry>,
    /// `RUST_LOG` chose the filter: it wins over `log.level`, also at run time.
    from_env: bool,
}

static LEVEL: OnceLock<LevelControl> = OnceLock::new();

/// The filter for frp's `log.level`.
fn level_filter(level: &str) -> EnvFilter {
    EnvFilter::new(format!("frp={0},frps={0},frpc={0}", level))
}

/// True when systemd connected our stderr to the journal.
pub fn stderr_is_journal() -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let Some(v) = std::env::var_os("JOURNAL_STREAM") else {
            return false;
        };
        let v = v.to_string_lossy();
        let Some((dev, ino)) = v.split_once(':') else {
            return false;
        };
        let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
            return false;
        };
        // fstat(2) of fd 2 through /proc would be Linux-only; /dev/stderr resolves on both.
        match std::fs::metadata("/dev/stderr") {
            Ok(m) => m.dev() == dev && m.ino() == ino,
            Err(_) => false,
        }
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// Install the global subscriber for program `prog` (frps or frpc). `RUST_LOG` overrides
/// `log.level` when set to a valid filter (for debugging).
///
/// Call it before starting threads: the log file reads the local UTC offset here, which some
/// versions of `time` refuse in a multi-threaded process (it then dates files in UTC).
pub fn init(prog: &str, cfg: &LogConfig) -> anyhow::Result<()> {
    let env = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok());
    let from_env = env.is_some();
    let (filter, handle) = reload::Layer::new(env.unwrap_or_else(|| level_filter(&cfg.level)));
    // A log file named in the config wins over the journal: the user asked for it.
    let to_console = cfg.to.is_empty() || cfg.to == "console";
    let journal = if cfg.to == "journald" || (to_console && stderr_is_journal()) {
        match journald_layer(prog) {
            Ok(layer) => Some(layer),
            Err(e) if cfg.to == "journald" => {
                anyhow::bail!("log.to = journald: cannot reach the journal: {e}")
            }
            // JOURNAL_STREAM without a reachable journal socket: keep logging to stderr.
            Err(_) => None,
        }
    } else {
        None
    };
    let registry = tracing_subscriber::registry().with(filter);
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(false)
        .fmt_fields(EscapedFields);
    let result = if let Some(layer) = journal {
        registry.with(layer).try_init()
    } else if cfg.to.is_empty() || cfg.to == "console" {
        registry
            .with(
                fmt.with_ansi(
                    !cfg.disable_print_color
                        && std::io::IsTerminal::is_terminal(&std::io::stderr()),
                )
                .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        // frp completes an unset or zero `log.maxDays` to 3 (`LogConfig.Complete`,
        // pkg/config/v1/common.go); only a negative value keeps every file.
        let max_days = if cfg.max_days == 0 { 3 } else { cfg.max_days };
        let file = RotatingFile::open(&cfg.to, max_days)
            .map_err(|e| anyhow::anyhow!("log.to: cannot open {}: {e}", cfg.to))?;
        registry
            .with(fmt.with_ansi(false).with_writer(Mutex::new(file)))
            .try_init()
    };
    result.map_err(|e| anyhow::anyhow!("logging already initialised: {e}"))?;
    let _ = LEVEL.set(LevelControl { handle, from_env });
    Ok(())
}

/// Change the level of every output to `level` (one of [`LOG_LEVELS`]), as `init` would set it.
/// When `RUST_LOG` chose the filter at `init` it stays, and this returns Ok without change.
/// Errors before `init` or for an unknown level.
pub fn set_level(level: &str) -> anyhow::Result<()> {
    if !LOG_LEVELS.contains(&level) {
        anyhow::bail!(
            "log.level: {level:?} is not one of {}",
            LOG_LEVELS.join(", ")
        );
    }
    let Some(control) = LEVEL.get() else {
        anyhow::bail!("log.level: logging is not initialised");
    };
    if control.from_env {
        return Ok(());
    }
    reload_level(&control.handle, level)
}

fn reload_level(handle: &reload::Handle<EnvFilter, Registry>, level: &str) -> anyhow::Result<()> {
    handle
        .reload(level_filter(level))
        .map_err(|e| anyhow::anyhow!("log.level: cannot change the level: {e}"))
}

fn journald_layer(prog: &str) -> std::io::Result<super::journal::JournalLayer> {
    super::journal::JournalLayer::new(prog)
}

/// Event fields as tracing's default formatter writes them (the message, then ` name=value`
/// for each other field), with every control character escaped ([`crate::escape`]): peers and
/// files put text in these fields, and a raw newline would forge a log line.
struct EscapedFields;

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut event = EventText::default();
        fields.record(&mut event);
        let mut out = Escaping(writer);
        out.write_str(&event.message)?;
        let rest = if event.message.is_empty() {
            event.fields.trim_start()
        } else {
            &event.fields
        };
        out.write_str(rest)
    }
}

/// An event's message and its other fields (` name=value` each), as text.
#[derive(Default)]
pub(super) struct EventText {
    pub message: String,
    pub fields: String,
}

impl Visit for EventText {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::{reload, Registry};

    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn set_level_rejects_unknown_levels_and_needs_init() {
        // No test of the library calls init (it installs the global subscriber).
        assert!(set_level("verbose")
            .unwrap_err()
            .to_string()
            .contains("verbose"));
        assert!(set_level("INFO").is_err());
        assert!(set_level("info")
            .unwrap_err()
            .to_string()
            .contains("not initialised"));
    }

    #[test]
    fn the_reloaded_filter_applies_at_once() {
        let buf = Buf::default();
        let (filter, handle) = reload::Layer::<_, Registry>::new(level_filter("info"));
        let out = buf.clone();
        let subscriber = tracing_subscriber::registry().with(filter).with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || out.clone()),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!("one");
            tracing::info!("two");
            reload_level(&handle, "debug").unwrap();
            tracing::debug!("three");
            reload_level(&handle, "warn").unwrap();
            tracing::info!("four");
            tracing::warn!("five");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let seen: Vec<&str> = ["one", "two", "three", "four", "five"]
            .into_iter()
            .filter(|w| text.contains(w))
            .collect();
        assert_eq!(seen, ["two", "three", "five"], "{text}");
    }
}
