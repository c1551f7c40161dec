//! frpc: the side next to the services. CLI → config → client service → exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "frpc",
    about = "frpc is the client of frp (https://github.com/fatedier/frp), rebuilt in Rust",
    disable_version_flag = true
)]
struct Cli {
    /// config file of frpc
    #[arg(
        short = 'c',
        long = "config",
        default_value = "./frpc.ini",
        global = true
    )]
    config: PathBuf,
    /// version of frpc
    #[arg(short = 'v', long = "version")]
    version: bool,
    /// strict config parsing mode, unknown fields will cause errors
    #[arg(long = "strict_config", alias = "strict-config", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    strict_config: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Verify that the configures is valid
    Verify,
    /// Hot-Reload frpc configuration (needs the admin API)
    Reload,
    /// Overview of all proxies status (needs the admin API)
    Status,
    /// Stop the running frpc (needs the admin API)
    Stop,
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
    match cli.command {
        Some(Command::Verify) => {
            return match frp::config::load_client(&cli.config) {
                Ok(_) => {
                    println!(
                        "frpc: the configuration file {} syntax is ok",
                        cli.config.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(Command::Reload | Command::Status | Command::Stop) => {
            eprintln!("frpc: this command talks to frpc's admin API (webServer), which this build does not have yet");
            return ExitCode::FAILURE;
        }
        None => {}
    }
    let cfg = match frp::config::load_client(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
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
    match rt.block_on(frp::client::run(cfg, frp::service::signals::terminate())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("frpc: {e:#}");
            ExitCode::FAILURE
        }
    }
}
