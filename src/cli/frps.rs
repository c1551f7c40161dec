//! The frps command line (config.md §5.1): `frps [-c FILE]`, `frps verify`, `-v`, and the flags
//! that configure frps without a file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::load::{load_server_to_run, ConfigSource, LoadOptions};
use crate::config::types::parse_port_ranges;
use crate::config::ServerConfig;

#[derive(Parser, Debug)]
#[command(
    name = "frps",
    about = "frps is the server of frp (https://github.com/fatedier/frp), rebuilt in Rust",
    disable_version_flag = true
)]
pub struct Cli {
    /// config file of frps
    #[arg(short = 'c', long = "config", global = true)]
    pub config: Option<PathBuf>,
    /// version of frps
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    /// strict config parsing mode, unknown fields will cause an errors
    #[arg(long = "strict_config", alias = "strict-config", default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set, global = true)]
    pub strict_config: bool,
    #[command(flatten)]
    pub flags: ServerFlags,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Verify that the configures is valid
    Verify,
    /// Generate the autocompletion script for the specified shell
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Used only when no `-c` is given (then defaults fill the rest, as frp does).
#[derive(Args, Debug)]
pub struct ServerFlags {
    /// bind address
    #[arg(long = "bind_addr", alias = "bind-addr", default_value = "0.0.0.0")]
    pub bind_addr: String,
    /// bind port
    #[arg(
        short = 'p',
        long = "bind_port",
        alias = "bind-port",
        default_value_t = 7000
    )]
    pub bind_port: i64,
    /// kcp bind udp port
    #[arg(long = "kcp_bind_port", alias = "kcp-bind-port", default_value_t = 0)]
    pub kcp_bind_port: i64,
    /// quic bind udp port
    #[arg(long = "quic_bind_port", alias = "quic-bind-port", default_value_t = 0)]
    pub quic_bind_port: i64,
    /// proxy bind address
    #[arg(
        long = "proxy_bind_addr",
        alias = "proxy-bind-addr",
        default_value = "0.0.0.0"
    )]
    pub proxy_bind_addr: String,
    /// vhost http port
    #[arg(
        long = "vhost_http_port",
        alias = "vhost-http-port",
        default_value_t = 0
    )]
    pub vhost_http_port: i64,
    /// vhost https port
    #[arg(
        long = "vhost_https_port",
        alias = "vhost-https-port",
        default_value_t = 0
    )]
    pub vhost_https_port: i64,
    /// vhost http response header timeout
    #[arg(
        long = "vhost_http_timeout",
        alias = "vhost-http-timeout",
        default_value_t = 60
    )]
    pub vhost_http_timeout: i64,
    /// dashboard address
    #[arg(
        long = "dashboard_addr",
        alias = "dashboard-addr",
        default_value = "0.0.0.0"
    )]
    pub dashboard_addr: String,
    /// dashboard port
    #[arg(long = "dashboard_port", alias = "dashboard-port", default_value_t = 0)]
    pub dashboard_port: i64,
    /// dashboard user
    #[arg(
        long = "dashboard_user",
        alias = "dashboard-user",
        default_value = "admin"
    )]
    pub dashboard_user: String,
    /// dashboard password
    #[arg(
        long = "dashboard_pwd",
        alias = "dashboard-pwd",
        default_value = "admin"
    )]
    pub dashboard_pwd: String,
    /// enable prometheus dashboard
    #[arg(long = "enable_prometheus", alias = "enable-prometheus")]
    pub enable_prometheus: bool,
    /// log file
    #[arg(long = "log_file", alias = "log-file", default_value = "console")]
    pub log_file: String,
    /// log level
    #[arg(long = "log_level", alias = "log-level", default_value = "info")]
    pub log_level: String,
    /// log max days
    #[arg(long = "log_max_days", alias = "log-max-days", default_value_t = 3)]
    pub log_max_days: i64,
    /// disable log color in console
    #[arg(long = "disable_log_color", alias = "disable-log-color")]
    pub disable_log_color: bool,
    /// auth token
    #[arg(short = 't', long = "token", default_value = "")]
    pub token: String,
    /// subdomain host
    #[arg(long = "subdomain_host", alias = "subdomain-host", default_value = "")]
    pub subdomain_host: String,
    /// allow ports, e.g. "2000-3000,3001"
    #[arg(long = "allow_ports", alias = "allow-ports", default_value = "")]
    pub allow_ports: String,
    /// max ports per client
    #[arg(
        long = "max_ports_per_client",
        alias = "max-ports-per-client",
        default_value_t = 0
    )]
    pub max_ports_per_client: i64,
    /// force using TLS
    #[arg(long = "tls_only", alias = "tls-only")]
    pub tls_only: bool,
    /// dashboard tls cert file
    #[arg(
        long = "dashboard_tls_cert_file",
        alias = "dashboard-tls-cert-file",
        default_value = ""
    )]
    pub dashboard_tls_cert_file: String,
    /// dashboard tls key file
    #[arg(
        long = "dashboard_tls_key_file",
        alias = "dashboard-tls-key-file",
        default_value = ""
    )]
    pub dashboard_tls_key_file: String,
    /// if enable dashboard tls mode (ignored, as in frp v0.65.0)
    #[arg(long = "dashboard_tls_mode", alias = "dashboard-tls-mode")]
    pub dashboard_tls_mode: bool,
}

impl ServerFlags {
    pub fn to_config(&self) -> Result<ServerConfig, String> {
        let mut c = ServerConfig {
            bind_addr: self.bind_addr.clone(),
            bind_port: self.bind_port,
            kcp_bind_port: self.kcp_bind_port,
            quic_bind_port: self.quic_bind_port,
            proxy_bind_addr: self.proxy_bind_addr.clone(),
            vhost_http_port: self.vhost_http_port,
            vhost_https_port: self.vhost_https_port,
            vhost_http_timeout: self.vhost_http_timeout,
            enable_prometheus: self.enable_prometheus,
            sub_domain_host: self.subdomain_host.clone(),
            max_ports_per_client: self.max_ports_per_client,
            allow_ports: parse_port_ranges(&self.allow_ports)
                .map_err(|e| format!("--allow_ports: {e}"))?,
            ..ServerConfig::default()
        };
        c.web_server.addr = self.dashboard_addr.clone();
        c.web_server.port = self.dashboard_port;
        c.web_server.user = self.dashboard_user.clone();
        c.web_server.password = self.dashboard_pwd.as_str().into();
        // The dashboard_tls_* flags are accepted and ignored: frp v0.65.0 never enables dashboard
        // TLS from flags (its setter reads its own initial false state).
        c.log.to = self.log_file.clone();
        c.log.level = self.log_level.clone();
        c.log.max_days = self.log_max_days;
        c.log.disable_print_color = self.disable_log_color;
        c.auth.token = self.token.as_str().into();
        c.transport.tls.force = self.tls_only;
        c.validate()?;
        c.complete();
        Ok(c)
    }
}

/// Run the frps command line; returns the process exit code.
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
    if let Some(Command::Completion { shell }) = cli.command {
        return super::print_completion::<Cli>(shell);
    }
    let opts = LoadOptions {
        strict: cli.strict_config,
    };
    if let Some(Command::Verify) = cli.command {
        let Some(path) = cli.config else {
            println!("frps: the configuration file is not specified");
            return ExitCode::SUCCESS;
        };
        let loaded = load_server_to_run(&path, opts)
            .map_err(anyhow::Error::from)
            .and_then(|(cfg, report)| {
                crate::server::check_files(&cfg)
                    .map_err(|e| anyhow::anyhow!("{}: {e:#}", path.display()))?;
                Ok((cfg, report))
            });
        return match loaded {
            Ok((cfg, report)) => {
                for w in report.warnings {
                    eprintln!("WARNING: {w}");
                }
                if let Some(w) = crate::web::read_only_warning(&cfg.web_server, "dashboard") {
                    eprintln!("WARNING: {w}");
                }
                println!(
                    "frps: the configuration file {} syntax is ok",
                    path.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("frps: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let (cfg, warnings) = match &cli.config {
        Some(path) => match load_server_to_run(path, opts) {
            Ok((c, report)) => (c, report.warnings),
            Err(e) => {
                eprintln!("frps: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => match cli
            .flags
            .to_config()
            .and_then(|c| crate::config::support::server(&c).map(|()| c))
        {
            Ok(c) => (c, Vec::new()),
            Err(e) => {
                eprintln!("frps: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    // Started from flags, there is no file to read again on reload.
    let source = cli.config.map(|path| ConfigSource { path, opts });
    super::run_daemon("frps", &cfg.log.clone(), warnings, |life| {
        crate::server::run::run(cfg, source, life)
    })
}
