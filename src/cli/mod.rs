//! The command lines of frps and frpc, as frp v0.65.0 has them (config.md §5).

pub mod admin_client;
pub mod frpc;
pub mod frpc_quick;
pub mod frps;

use std::future::Future;
use std::process::ExitCode;

use crate::config::types::LogConfig;
use crate::daemon::Lifecycle;

/// Start logging, print load warnings, and run a daemon's future on a new runtime with its
/// signal handlers installed; errors are printed as one line prefixed with the program name.
pub fn run_daemon<F>(
    prog: &str,
    log: &LogConfig,
    warnings: Vec<String>,
    run: impl FnOnce(Lifecycle) -> F,
) -> ExitCode
where
    F: Future<Output = anyhow::Result<()>>,
{
    if let Err(e) = crate::daemon::logging::init(prog, log) {
        eprintln!("{prog}: {e}");
        return ExitCode::FAILURE;
    }
    for w in warnings {
        tracing::warn!("{w}");
    }
    let rt = match build_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{prog}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        let life = Lifecycle::from_signals()
            .map_err(|e| anyhow::anyhow!("cannot install signal handlers: {e}"))?;
        crate::daemon::memory::spawn_trimmer();
        run(life).await
    });
    // Tasks still running (connections cut by a forced stop) must not hold the exit up.
    rt.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
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

/// The async runtime the daemons run on. On one or two cores a single-threaded runtime is
/// faster: the work-stealing scheduler's cross-thread wakeups cost more than a second worker
/// gains (benches/http.sh on 2 cores: 25.9k vs 17.9k requests/s, p99 4.8 vs 12.5 ms; tunnel
/// throughput 0.40 vs 0.36 of direct). More cores get tokio's multi-threaded runtime, and
/// `TOKIO_WORKER_THREADS` (which tokio reads) always asks for it.
fn build_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores <= 2 && std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Runtime::new()
    }
}

/// `frps completion SHELL`, `frpc completion SHELL` (as Go frp's cobra command line has): print
/// the shell's completion script for the command `C`.
pub fn print_completion<C: clap::CommandFactory>(shell: clap_complete::Shell) -> ExitCode {
    let mut cmd = C::command();
    let name = cmd.get_name().to_string();
    clap_complete::generate(shell, &mut cmd, name, &mut std::io::stdout());
    ExitCode::SUCCESS
}
