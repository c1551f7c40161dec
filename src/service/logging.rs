//! Logging with `tracing`, at frp's `log.level`:
//! - to the systemd journal, natively, when stderr is the journal (`JOURNAL_STREAM` names
//!   stderr's device and inode, as systemd sets it for services) or `log.to = "journald"`:
//!   `SYSLOG_IDENTIFIER` is the program name, priorities follow syslog (info = 6), and event fields
//!   become journal fields people filter on (`journalctl -u frps PROXY_NAME=ssh`);
//! - otherwise to the console, or appended to the `log.to` file.

use std::sync::Mutex;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::config::types::LogConfig;

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
/// `log.level` when set (for debugging).
pub fn init(prog: &str, cfg: &LogConfig) -> anyhow::Result<()> {
    let filter = || {
        std::env::var("RUST_LOG")
            .ok()
            .and_then(|v| EnvFilter::try_new(v).ok())
            .unwrap_or_else(|| EnvFilter::new(format!("frp={0},frps={0},frpc={0}", cfg.level)))
    };
    if cfg.to == "journald" || stderr_is_journal() {
        match journald_layer(prog) {
            Ok(layer) => {
                return tracing_subscriber::registry()
                    .with(filter())
                    .with(layer)
                    .try_init()
                    .map_err(|e| anyhow::anyhow!("logging already initialised: {e}"));
            }
            Err(e) if cfg.to == "journald" => {
                anyhow::bail!("log.to = journald: cannot reach the journal: {e}")
            }
            // JOURNAL_STREAM without a reachable journal socket: keep logging to stderr.
            Err(_) => {}
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_target(false);
    let result = if cfg.to.is_empty() || cfg.to == "console" {
        builder
            .with_ansi(
                !cfg.disable_print_color && std::io::IsTerminal::is_terminal(&std::io::stderr()),
            )
            .with_writer(std::io::stderr)
            .try_init()
    } else {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&cfg.to)
            .map_err(|e| anyhow::anyhow!("log.to: cannot open {}: {e}", cfg.to))?;
        builder
            .with_ansi(false)
            .with_writer(Mutex::new(file))
            .try_init()
    };
    result.map_err(|e| anyhow::anyhow!("logging already initialised: {e}"))
}

fn journald_layer(prog: &str) -> std::io::Result<tracing_journald::Layer> {
    use tracing_journald::{Priority, PriorityMappings};
    Ok(tracing_journald::layer()?
        .with_syslog_identifier(prog.to_string())
        // Our event fields (proxy_name, run_id, remote, user) become PROXY_NAME, RUN_ID, ...
        .with_field_prefix(None)
        .with_priority_mappings(PriorityMappings {
            info: Priority::Informational,
            debug: Priority::Debug,
            ..PriorityMappings::new()
        }))
}
