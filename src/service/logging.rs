//! Logging with `tracing`: frp's `log.level`, to the console or appended to the `log.to` file.

use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

use crate::config::types::LogConfig;

/// Install the global subscriber. `RUST_LOG` overrides `log.level` when set (for debugging).
pub fn init(cfg: &LogConfig) -> anyhow::Result<()> {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(format!("frp={0},frps={0},frpc={0}", cfg.level)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
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
