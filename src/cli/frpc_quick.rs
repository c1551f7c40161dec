//! frpc's quick-start subcommands (`frpc tcp|udp|http|https|tcpmux|stcp|sudp|xtcp`): one proxy
//! or visitor from flags, without a config file, with frp's flag names.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};

use crate::config::proxy::{ProxyConfig, VisitorConfig};
use crate::config::types::{Secret, TransportProtocol};
use crate::config::ClientConfig;

/// The quick-start subcommands, flattened into frpc's.
#[derive(Subcommand, Debug)]
pub enum QuickStart {
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
}

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
    #[arg(short = 'p', long = "protocol", default_value = "tcp", value_parser = |s: &str| TransportProtocol::try_from(s.to_string()))]
    pub protocol: TransportProtocol,
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
        c.transport.protocol = self.protocol;
        c.transport.tls.enable = self.tls_enable;
        c.transport.tls.server_name = self.tls_server_name.clone();
        c.log.level = self.log_level.clone();
        c.log.to = self.log_file.clone();
        c.log.max_days = self.log_max_days;
        c.log.disable_print_color = self.disable_log_color;
        c.auth.token = self.token.as_str().into();
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
/// The configuration a quick-start subcommand describes (not yet validated).
pub fn quick_start_config(cmd: &QuickStart) -> Result<ClientConfig, String> {
    let build =
        |common: &CommonFlags, base: &BaseFlags, kind: &str, f: &dyn Fn(&mut ProxyConfig)| {
            let mut c = common.to_config();
            let mut p = base.to_proxy(kind)?;
            f(&mut p);
            c.proxies.push(p);
            Ok(c)
        };
    match cmd {
        QuickStart::Tcp(a) => build(&a.common, &a.base, "tcp", &|p| {
            p.remote_port = Some(a.extra.remote_port)
        }),
        QuickStart::Udp(a) => build(&a.common, &a.base, "udp", &|p| {
            p.remote_port = Some(a.extra.remote_port)
        }),
        QuickStart::Https(a) => build(&a.common, &a.base, "https", &|p| a.extra.apply(p)),
        QuickStart::Http(a) => build(&a.common, &a.base, "http", &|p| {
            let h = &a.extra;
            h.domains.apply(p);
            p.locations = some_vec(&h.locations);
            p.http_user = some_if(&h.http_user);
            p.http_password = some_if(&h.http_pwd).map(Secret::from);
            p.host_header_rewrite = some_if(&h.host_header_rewrite);
        }),
        QuickStart::Tcpmux(a) => build(&a.common, &a.base, "tcpmux", &|p| {
            let t = &a.extra;
            t.domains.apply(p);
            p.multiplexer = Some(t.multiplexer.clone());
            p.http_user = some_if(&t.http_user);
            p.http_password = some_if(&t.http_pwd).map(Secret::from);
        }),
        QuickStart::Stcp(s) | QuickStart::Sudp(s) | QuickStart::Xtcp(s) => {
            let kind = match cmd {
                QuickStart::Stcp(_) => "stcp",
                QuickStart::Sudp(_) => "sudp",
                _ => "xtcp",
            };
            match (&s.visitor, &s.proxy) {
                (Some(VisitorSub::Visitor(v)), _) => {
                    let mut c = v.common.to_config();
                    c.visitors.push(VisitorConfig {
                        name: v.visitor_name.clone(),
                        kind: kind.into(),
                        secret_key: v.sk.as_str().into(),
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
                    p.secret_key = Some(a.extra.sk.as_str().into());
                    p.allow_users = some_vec(&a.extra.allow_users);
                }),
                (None, None) => Err(format!(
                    "frpc {kind}: missing flags (see frpc {kind} --help)"
                )),
            }
        }
    }
}
