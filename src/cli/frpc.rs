//! The frpc command line (config.md §5.2): `frpc [-c FILE]`, `verify`, `reload|status|stop`, and
//! the quick-start subcommands that run one proxy or visitor from flags, without a file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use super::frpc_quick::{quick_start_config, QuickStart};
use crate::config::load::{load_client_to_run, load_client_with, ConfigSource, LoadOptions};

#[derive(Parser, Debug)]
#[command(
    name = "frpc",
    about = "frpc is the client of frp (https://github.com/fatedier/frp), rebuilt in Rust",
    disable_version_flag = true
)]
pub struct Cli {
    /// config file of frpc
    #[arg(
        short = 'c',
        long = "config",
        default_value = "./frpc.ini",
        global = true
    )]
    pub config: PathBuf,
    /// config directory: run one frpc service for each file in it
    #[arg(long = "config_dir", alias = "config-dir")]
    pub config_dir: Option<PathBuf>,
    /// version of frpc
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    /// strict config parsing mode, unknown fields will cause errors
    #[arg(long = "strict_config", alias = "strict-config", default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set, global = true)]
    pub strict_config: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Verify that the configures is valid
    Verify,
    /// Hot-Reload frpc configuration
    Reload(ApiArgs),
    /// Overview of all proxies status
    Status(ApiArgs),
    /// Stop the running frpc
    Stop(ApiArgs),
    #[command(flatten)]
    Quick(Box<QuickStart>),
    /// Generate the autocompletion script for the specified shell
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// NAT traversal helpers
    Nathole {
        #[command(subcommand)]
        cmd: NatholeCmd,
    },
}

#[derive(Subcommand, Debug)]
pub enum NatholeCmd {
    /// Discover the NAT type with STUN
    Discover {
        #[arg(
            long = "nat_hole_stun_server",
            alias = "nat-hole-stun-server",
            default_value = "stun.easyvoip.com:3478"
        )]
        stun_server: String,
        #[arg(
            short = 'l',
            long = "nat_hole_local_addr",
            alias = "nat-hole-local-addr",
            default_value = ""
        )]
        local_addr: String,
    },
}

#[derive(Args, Debug)]
pub struct ApiArgs {
    /// timeout of the admin API request, e.g. 30s
    #[arg(long = "api-timeout", alias = "api_timeout", default_value = "30s")]
    pub api_timeout: String,
}

/// Flags shared by every quick-start subcommand.
/// Run the frpc command line; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        println!(
            "{} (frp protocol {})",
            crate::VERSION,
            crate::FRP_PROTOCOL_VERSION
        );
        return ExitCode::SUCCESS;
    }
    let opts = LoadOptions {
        strict: cli.strict_config,
    };
    if let (Some(dir), None) = (&cli.config_dir, &cli.command) {
        return run_config_dir(dir, opts);
    }
    let (cfg, warnings) = match &cli.command {
        Some(Command::Verify) => {
            let loaded = load_client_to_run(&cli.config, opts)
                .map_err(anyhow::Error::from)
                .and_then(|(cfg, report)| {
                    crate::client::run::check_files(&cfg)
                        .map_err(|e| anyhow::anyhow!("{}: {e:#}", cli.config.display()))?;
                    Ok((cfg, report))
                });
            return match loaded {
                Ok((cfg, report)) => {
                    for w in report.warnings {
                        eprintln!("WARNING: {w}");
                    }
                    if let Some(w) = crate::web::read_only_warning(&cfg.web_server, "admin API") {
                        eprintln!("WARNING: {w}");
                    }
                    println!(
                        "frpc: the configuration file {} syntax is ok",
                        cli.config.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("frpc: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(Command::Reload(a) | Command::Status(a) | Command::Stop(a)) => {
            let cmd = cli.command.as_ref().map(|c| match c {
                Command::Reload(_) => "reload",
                Command::Status(_) => "status",
                _ => "stop",
            });
            return admin_command(cmd.unwrap_or("status"), &cli.config, opts, &a.api_timeout);
        }
        Some(Command::Completion { shell }) => return super::print_completion::<Cli>(*shell),
        Some(Command::Nathole { .. }) => {
            eprintln!("frpc: nathole discover is not supported by this build yet");
            return ExitCode::FAILURE;
        }
        Some(Command::Quick(q)) => match quick_start_config(q) {
            Ok(mut c) => match c.validate().and_then(|()| {
                c.complete();
                crate::config::support::client(&c)
            }) {
                Ok(()) => (c, Vec::new()),
                Err(e) => {
                    eprintln!("frpc: {e}");
                    return ExitCode::FAILURE;
                }
            },
            Err(e) => {
                eprintln!("frpc: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => match load_client_to_run(&cli.config, opts) {
            Ok((c, report)) => (c, report.warnings),
            Err(e) => {
                eprintln!("frpc: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    // Quick-start commands have no file to reload.
    let source = match &cli.command {
        None => Some(ConfigSource {
            path: cli.config.clone(),
            opts,
        }),
        Some(_) => None,
    };
    super::run_daemon("frpc", &cfg.log.clone(), warnings, |life| {
        crate::client::run(cfg, source, life)
    })
}

/// `frpc reload|status|stop`: ask the running frpc through its admin API (`webServer.*` of the
/// same config file).
fn admin_command(
    cmd: &str,
    config: &std::path::Path,
    opts: LoadOptions,
    timeout: &str,
) -> ExitCode {
    use super::admin_client::{call, parse_duration, status_table};
    let cfg = match load_client_with(config, opts) {
        Ok((c, _)) => c,
        Err(e) => {
            eprintln!("frpc: {e}");
            return ExitCode::FAILURE;
        }
    };
    if cfg.web_server.port <= 0 {
        eprintln!("frpc: web server port should be set if you want to use this feature (webServer.port, frpc's admin API)");
        return ExitCode::FAILURE;
    }
    let timeout = match parse_duration(timeout) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("frpc: --api-timeout: {e}");
            return ExitCode::FAILURE;
        }
    };
    let web = &cfg.web_server;
    let result = match cmd {
        "reload" => {
            let path = if opts.strict {
                "/api/reload?strictConfig=true"
            } else {
                "/api/reload"
            };
            call(web, "GET", path, timeout).map(|_| "reload success\n".to_string())
        }
        "stop" => call(web, "POST", "/api/stop", timeout).map(|_| "stop success\n".to_string()),
        _ => call(web, "GET", "/api/status", timeout).and_then(|body| status_table(&body)),
    };
    match result {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("frpc: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--config_dir`: load every file of the directory and run one client per file.
fn run_config_dir(dir: &std::path::Path, opts: LoadOptions) -> ExitCode {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect(),
        Err(e) => {
            eprintln!("frpc: --config_dir {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    };
    files.sort();
    let mut configs = Vec::new();
    for f in &files {
        match load_client_to_run(f, opts) {
            Ok((c, _)) => configs.push((
                c,
                ConfigSource {
                    path: f.clone(),
                    opts,
                },
            )),
            Err(e) => {
                eprintln!("frpc: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let Some((first, _)) = configs.first() else {
        eprintln!("frpc: --config_dir {}: no config files", dir.display());
        return ExitCode::FAILURE;
    };
    let log = first.log.clone();
    super::run_daemon("frpc", &log, Vec::new(), |life| async move {
        // One stop and one SIGHUP for all: each client re-reads its own file.
        let mut set = tokio::task::JoinSet::new();
        for (cfg, source) in configs {
            set.spawn(crate::client::run(cfg, Some(source), life.clone()));
        }
        let mut failed = 0;
        while let Some(r) = set.join_next().await {
            if let Ok(Err(e)) = r {
                tracing::error!("{e:#}");
                failed += 1;
            }
        }
        match failed {
            0 => Ok(()),
            n => Err(anyhow::anyhow!("{n} of the clients failed")),
        }
    })
}
