//! The frpc command line (config.md §5.2): `frpc [-c FILE]`, `verify`, `reload|status|stop`, and
//! the quick-start subcommands that run one proxy or visitor from flags, without a file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::load::{load_client_to_run, load_client_with, ConfigSource, LoadOptions};
use crate::config::proxy::{ProxyConfig, VisitorConfig};
use crate::config::ClientConfig;

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
    /// Run frpc with a single tcp proxy
    Tcp(ProxyCmd<PortArgs>),
    /// Run frpc with a single udp proxy
    Udp(ProxyCmd<PortArgs>),
    /// Run frpc with a single http proxy
    Http(ProxyCmd<HttpArgs>),
    /// Run frpc with a single https proxy
    Https(ProxyCmd<DomainArgs>),
    /// Run frpc with a single tcpmux proxy
    Tcpmux(ProxyCmd<TcpmuxArgs>),
    /// Run frpc with a single stcp proxy (or `stcp visitor`)
    Stcp(SecretCmd),
    /// Run frpc with a single sudp proxy (or `sudp visitor`)
    Sudp(SecretCmd),
    /// Run frpc with a single xtcp proxy (or `xtcp visitor`)
    Xtcp(SecretCmd),
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
#[derive(Args, Debug, Clone)]
pub struct CommonFlags {
    /// frp server's address
    #[arg(
        short = 's',
        long = "server_addr",
        alias = "server-addr",
        default_value = "127.0.0.1"
    )]
    pub server_addr: String,
    /// frp server's port
    #[arg(
        short = 'P',
        long = "server_port",
        alias = "server-port",
        default_value_t = 7000
    )]
    pub server_port: i64,
    /// tcp, kcp, quic, websocket, wss
    #[arg(short = 'p', long = "protocol", default_value = "tcp")]
    pub protocol: String,
    /// log level
    #[arg(long = "log_level", alias = "log-level", default_value = "info")]
    pub log_level: String,
    /// console or file path
    #[arg(long = "log_file", alias = "log-file", default_value = "console")]
    pub log_file: String,
    /// log file reversed days
    #[arg(long = "log_max_days", alias = "log-max-days", default_value_t = 3)]
    pub log_max_days: i64,
    /// disable log color in console
    #[arg(long = "disable_log_color", alias = "disable-log-color")]
    pub disable_log_color: bool,
    /// specify the custom server name of tls certificate
    #[arg(
        long = "tls_server_name",
        alias = "tls-server-name",
        default_value = ""
    )]
    pub tls_server_name: String,
    /// specify dns server instead of using system default one
    #[arg(long = "dns_server", alias = "dns-server", default_value = "")]
    pub dns_server: String,
    /// enable frpc tls
    #[arg(long = "tls_enable", alias = "tls-enable", default_value_t = true, action = clap::ArgAction::Set)]
    pub tls_enable: bool,
    /// user
    #[arg(short = 'u', long = "user", default_value = "")]
    pub user: String,
    /// auth token
    #[arg(short = 't', long = "token", default_value = "")]
    pub token: String,
}

#[derive(Args, Debug, Clone)]
pub struct BaseFlags {
    /// proxy name
    #[arg(
        short = 'n',
        long = "proxy_name",
        alias = "proxy-name",
        default_value = ""
    )]
    pub proxy_name: String,
    /// metadata key-value pairs (e.g., key1=value1,key2=value2)
    #[arg(long = "metadatas", default_value = "")]
    pub metadatas: String,
    /// annotation key-value pairs (e.g., key1=value1,key2=value2)
    #[arg(long = "annotations", default_value = "")]
    pub annotations: String,
    /// local ip
    #[arg(
        short = 'i',
        long = "local_ip",
        alias = "local-ip",
        default_value = "127.0.0.1"
    )]
    pub local_ip: String,
    /// local port
    #[arg(
        short = 'l',
        long = "local_port",
        alias = "local-port",
        default_value_t = 0
    )]
    pub local_port: i64,
    /// use encryption
    #[arg(long = "ue")]
    pub use_encryption: bool,
    /// use compression
    #[arg(long = "uc")]
    pub use_compression: bool,
    /// bandwidth limit, e.g. 1MB
    #[arg(
        long = "bandwidth_limit",
        alias = "bandwidth-limit",
        default_value = ""
    )]
    pub bandwidth_limit: String,
    /// bandwidth limit mode: client or server
    #[arg(
        long = "bandwidth_limit_mode",
        alias = "bandwidth-limit-mode",
        default_value = "client"
    )]
    pub bandwidth_limit_mode: String,
}

#[derive(Args, Debug)]
pub struct ProxyCmd<T: Args> {
    #[command(flatten)]
    pub common: CommonFlags,
    #[command(flatten)]
    pub base: BaseFlags,
    #[command(flatten)]
    pub extra: T,
}

#[derive(Args, Debug)]
pub struct PortArgs {
    /// remote port
    #[arg(
        short = 'r',
        long = "remote_port",
        alias = "remote-port",
        default_value_t = 0
    )]
    pub remote_port: i64,
}

#[derive(Args, Debug)]
pub struct DomainArgs {
    /// custom domains
    #[arg(
        short = 'd',
        long = "custom_domain",
        alias = "custom-domain",
        value_delimiter = ','
    )]
    pub custom_domains: Vec<String>,
    /// sub domain
    #[arg(long = "sd", default_value = "")]
    pub subdomain: String,
}

#[derive(Args, Debug)]
pub struct HttpArgs {
    #[command(flatten)]
    pub domains: DomainArgs,
    /// locations
    #[arg(long = "locations", value_delimiter = ',')]
    pub locations: Vec<String>,
    /// http auth user
    #[arg(long = "http_user", alias = "http-user", default_value = "")]
    pub http_user: String,
    /// http auth password
    #[arg(long = "http_pwd", alias = "http-pwd", default_value = "")]
    pub http_pwd: String,
    /// host header rewrite
    #[arg(
        long = "host_header_rewrite",
        alias = "host-header-rewrite",
        default_value = ""
    )]
    pub host_header_rewrite: String,
}

#[derive(Args, Debug)]
pub struct TcpmuxArgs {
    #[command(flatten)]
    pub domains: DomainArgs,
    /// multiplexer
    #[arg(long = "mux", default_value = "httpconnect")]
    pub multiplexer: String,
    /// http auth user
    #[arg(long = "http_user", alias = "http-user", default_value = "")]
    pub http_user: String,
    /// http auth password
    #[arg(long = "http_pwd", alias = "http-pwd", default_value = "")]
    pub http_pwd: String,
}

#[derive(Args, Debug)]
pub struct SecretArgs {
    /// secret key
    #[arg(long = "sk", default_value = "")]
    pub sk: String,
    /// allow visitor users
    #[arg(long = "allow_users", alias = "allow-users", value_delimiter = ',')]
    pub allow_users: Vec<String>,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SecretCmd {
    #[command(subcommand)]
    pub visitor: Option<VisitorSub>,
    #[command(flatten)]
    pub proxy: Option<ProxyCmd<SecretArgs>>,
}

#[derive(Subcommand, Debug)]
pub enum VisitorSub {
    /// Run frpc with a single visitor
    Visitor(VisitorCmd),
}

#[derive(Args, Debug)]
pub struct VisitorCmd {
    #[command(flatten)]
    pub common: CommonFlags,
    /// visitor name
    #[arg(
        short = 'n',
        long = "visitor_name",
        alias = "visitor-name",
        default_value = ""
    )]
    pub visitor_name: String,
    /// use encryption
    #[arg(long = "ue")]
    pub use_encryption: bool,
    /// use compression
    #[arg(long = "uc")]
    pub use_compression: bool,
    /// secret key
    #[arg(long = "sk", default_value = "")]
    pub sk: String,
    /// server name
    #[arg(long = "server_name", alias = "server-name", default_value = "")]
    pub server_name: String,
    /// server user
    #[arg(long = "server-user", alias = "server_user", default_value = "")]
    pub server_user: String,
    /// bind addr
    #[arg(long = "bind_addr", alias = "bind-addr", default_value = "127.0.0.1")]
    pub bind_addr: String,
    /// bind port
    #[arg(long = "bind_port", alias = "bind-port", default_value_t = 0)]
    pub bind_port: i64,
}

fn kv_map(s: &str, flag: &str) -> Result<BTreeMap<String, String>, String> {
    let mut m = BTreeMap::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| format!("--{flag}: invalid item '{item}', expected key=value"))?;
        m.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(m)
}

impl CommonFlags {
    fn to_config(&self) -> ClientConfig {
        let mut c = ClientConfig {
            server_addr: self.server_addr.clone(),
            server_port: self.server_port,
            user: self.user.clone(),
            dns_server: self.dns_server.clone(),
            ..ClientConfig::default()
        };
        c.transport.protocol = self.protocol.clone();
        c.transport.tls.enable = self.tls_enable;
        c.transport.tls.server_name = self.tls_server_name.clone();
        c.log.level = self.log_level.clone();
        c.log.to = self.log_file.clone();
        c.log.max_days = self.log_max_days;
        c.log.disable_print_color = self.disable_log_color;
        c.auth.token = self.token.clone();
        c
    }
}

impl BaseFlags {
    fn to_proxy(&self, kind: &str) -> Result<ProxyConfig, String> {
        let mut p = ProxyConfig {
            name: self.proxy_name.clone(),
            kind: kind.into(),
            local_ip: self.local_ip.clone(),
            local_port: self.local_port,
            metadatas: kv_map(&self.metadatas, "metadatas")?,
            annotations: kv_map(&self.annotations, "annotations")?,
            ..ProxyConfig::default()
        };
        p.transport.use_encryption = self.use_encryption;
        p.transport.use_compression = self.use_compression;
        p.transport.bandwidth_limit = self.bandwidth_limit.clone();
        p.transport.bandwidth_limit_mode = self.bandwidth_limit_mode.clone();
        Ok(p)
    }
}

fn some_if(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn some_vec(v: &[String]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| v.to_vec())
}

impl DomainArgs {
    fn apply(&self, p: &mut ProxyConfig) {
        p.custom_domains = some_vec(&self.custom_domains);
        p.subdomain = some_if(&self.subdomain);
    }
}

/// The config a quick-start subcommand describes; `None` for the file-based commands.
pub fn quick_start_config(cmd: &Command) -> Option<Result<ClientConfig, String>> {
    let build =
        |common: &CommonFlags, base: &BaseFlags, kind: &str, f: &dyn Fn(&mut ProxyConfig)| {
            let mut c = common.to_config();
            let mut p = base.to_proxy(kind)?;
            f(&mut p);
            c.proxies.push(p);
            Ok(c)
        };
    Some(match cmd {
        Command::Tcp(a) => build(&a.common, &a.base, "tcp", &|p| {
            p.remote_port = Some(a.extra.remote_port)
        }),
        Command::Udp(a) => build(&a.common, &a.base, "udp", &|p| {
            p.remote_port = Some(a.extra.remote_port)
        }),
        Command::Https(a) => build(&a.common, &a.base, "https", &|p| a.extra.apply(p)),
        Command::Http(a) => build(&a.common, &a.base, "http", &|p| {
            let h = &a.extra;
            h.domains.apply(p);
            p.locations = some_vec(&h.locations);
            p.http_user = some_if(&h.http_user);
            p.http_password = some_if(&h.http_pwd);
            p.host_header_rewrite = some_if(&h.host_header_rewrite);
        }),
        Command::Tcpmux(a) => build(&a.common, &a.base, "tcpmux", &|p| {
            let t = &a.extra;
            t.domains.apply(p);
            p.multiplexer = Some(t.multiplexer.clone());
            p.http_user = some_if(&t.http_user);
            p.http_password = some_if(&t.http_pwd);
        }),
        Command::Stcp(s) | Command::Sudp(s) | Command::Xtcp(s) => {
            let kind = match cmd {
                Command::Stcp(_) => "stcp",
                Command::Sudp(_) => "sudp",
                _ => "xtcp",
            };
            match (&s.visitor, &s.proxy) {
                (Some(VisitorSub::Visitor(v)), _) => {
                    let mut c = v.common.to_config();
                    c.visitors.push(VisitorConfig {
                        name: v.visitor_name.clone(),
                        kind: kind.into(),
                        secret_key: v.sk.clone(),
                        server_name: v.server_name.clone(),
                        server_user: v.server_user.clone(),
                        bind_addr: v.bind_addr.clone(),
                        bind_port: v.bind_port,
                        transport: crate::config::proxy::VisitorTransport {
                            use_encryption: v.use_encryption,
                            use_compression: v.use_compression,
                        },
                        ..VisitorConfig::default()
                    });
                    Ok(c)
                }
                (None, Some(a)) => build(&a.common, &a.base, kind, &|p| {
                    p.secret_key = Some(a.extra.sk.clone());
                    p.allow_users = some_vec(&a.extra.allow_users);
                }),
                (None, None) => Err(format!(
                    "frpc {kind}: missing flags (see frpc {kind} --help)"
                )),
            }
        }
        _ => return None,
    })
}

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
                    crate::client::service::check_files(&cfg)
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
        Some(cmd) => match quick_start_config(cmd) {
            Some(Ok(mut c)) => match c.validate().and_then(|()| {
                c.complete();
                crate::config::support::client(&c)
            }) {
                Ok(()) => (c, Vec::new()),
                Err(e) => {
                    eprintln!("frpc: {e}");
                    return ExitCode::FAILURE;
                }
            },
            Some(Err(e)) => {
                eprintln!("frpc: {e}");
                return ExitCode::FAILURE;
            }
            None => {
                eprintln!("frpc: unknown command");
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
