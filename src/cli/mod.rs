//! The command lines of frps and frpc, as frp v0.65.0 has them (config.md §5).

pub mod frpc;
pub mod frps;

use std::future::Future;
use std::process::ExitCode;

use crate::config::types::LogConfig;

/// Start logging, print load warnings, and run a daemon's future on a new runtime; errors are
/// printed as one line prefixed with the program name.
pub fn run_daemon<F>(
    prog: &str,
    log: &LogConfig,
    warnings: Vec<String>,
    run: impl FnOnce() -> F,
) -> ExitCode
where
    F: Future<Output = anyhow::Result<()>>,
{
    if let Err(e) = crate::service::logging::init(prog, log) {
        eprintln!("{prog}: {e}");
        return ExitCode::FAILURE;
    }
    for w in warnings {
        tracing::warn!("{w}");
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{prog}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the log when it goes to the console, else also on stderr.
            tracing::error!("{e:#}");
            if !(log.to.is_empty() || log.to == "console") {
                eprintln!("{prog}: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}
