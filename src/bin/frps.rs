//! frps: the public side. CLI → config → server service → exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "frps",
    about = "frps is the server of frp (https://github.com/fatedier/frp), rebuilt in Rust",
    disable_version_flag = true
)]
struct Cli {
    /// config file of frps
    #[arg(short = 'c', long = "config", global = true)]
    config: Option<PathBuf>,
    /// version of frps
    #[arg(short = 'v', long = "version")]
    version: bool,
    /// strict config parsing mode, unknown fields will cause an errors
    #[arg(long = "strict_config", alias = "strict-config", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    strict_config: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Verify that the configures is valid
    Verify,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        println!(
            "{} (frp protocol {})",
            frp::VERSION,
            frp::FRP_PROTOCOL_VERSION
        );
        return ExitCode::SUCCESS;
    }
    let _ = cli.strict_config; // Non-strict parsing arrives with the config issue; strict is the default.
    if let Some(Command::Verify) = cli.command {
        let Some(path) = cli.config else {
            println!("frps: the configuration file is not specified");
            return ExitCode::SUCCESS;
        };
        return match frp::config::load_server(&path) {
            Ok(_) => {
                println!(
                    "frps: the configuration file {} syntax is ok",
                    path.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    let cfg = match &cli.config {
        Some(path) => match frp::config::load_server(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        },
        None => {
            let mut c = frp::config::ServerConfig::default();
            c.complete();
            c
        }
    };
    if let Err(e) = frp::service::logging::init(&cfg.log) {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(frp::server::service::run(
        cfg,
        frp::service::signals::terminate(),
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("frps: {e:#}");
            ExitCode::FAILURE
        }
    }
}
