//! frps schema (config.md §3).

use serde::{Deserialize, Serialize};

use super::types::*;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerAuthOidc {
    pub issuer: String,
    pub audience: String,
    pub skip_expiry_check: bool,
    pub skip_issuer_check: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerAuthConfig {
    pub method: AuthMethod,
    pub additional_scopes: Vec<AuthScope>,
    pub token: Secret,
    pub token_source: Option<ValueSource>,
    pub oidc: ServerAuthOidc,
    /// Ours (frp has no such key): refuse a Login whose timestamp is more than 15 minutes from
    /// frps's clock, and a Login whose privilege key was already used (a replay). Off by
    /// default, as frp accepts both (devices without a clock exist); frps then only warns
    /// about a far-off timestamp.
    pub reject_stale_logins: bool,
}

impl Default for ServerAuthConfig {
    fn default() -> Self {
        ServerAuthConfig {
            method: AuthMethod::Token,
            additional_scopes: Vec::new(),
            token: Secret::default(),
            token_source: None,
            oidc: ServerAuthOidc::default(),
            reject_stale_logins: false,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerTlsConfig {
    pub force: bool,
    pub cert_file: String,
    pub key_file: String,
    pub trusted_ca_file: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerTransportConfig {
    pub tcp_mux: bool,
    pub tcp_mux_keepalive_interval: i64,
    pub tcp_keepalive: i64,
    pub max_pool_count: i64,
    /// `None` until [`ServerConfig::complete`]: the default depends on `tcp_mux`.
    pub heartbeat_timeout: Option<i64>,
    pub quic: QuicConfig,
    pub tls: ServerTlsConfig,
}

impl Default for ServerTransportConfig {
    fn default() -> Self {
        ServerTransportConfig {
            tcp_mux: true,
            tcp_mux_keepalive_interval: 30,
            tcp_keepalive: 7200,
            max_pool_count: 5,
            heartbeat_timeout: None,
            quic: QuicConfig::default(),
            tls: ServerTlsConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct SshTunnelGateway {
    pub bind_port: i64,
    pub private_key_file: String,
    pub auto_gen_private_key_path: String,
    pub authorized_keys_file: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpPluginOptions {
    pub name: String,
    pub addr: String,
    pub path: String,
    pub ops: Vec<String>,
    pub tls_verify: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerConfig {
    pub version: Option<String>,
    pub bind_addr: String,
    pub bind_port: i64,
    pub kcp_bind_port: i64,
    pub quic_bind_port: i64,
    /// Empty until [`ServerConfig::complete`], then `bind_addr` unless set.
    pub proxy_bind_addr: String,
    #[serde(rename = "vhostHTTPPort")]
    pub vhost_http_port: i64,
    #[serde(rename = "vhostHTTPTimeout")]
    pub vhost_http_timeout: i64,
    #[serde(rename = "vhostHTTPSPort")]
    pub vhost_https_port: i64,
    #[serde(rename = "tcpmuxHTTPConnectPort")]
    pub tcpmux_http_connect_port: i64,
    pub tcpmux_passthrough: bool,
    pub sub_domain_host: String,
    #[serde(rename = "custom404Page")]
    pub custom_404_page: String,
    pub ssh_tunnel_gateway: SshTunnelGateway,
    pub web_server: WebServerConfig,
    pub enable_prometheus: bool,
    pub log: LogConfig,
    pub auth: ServerAuthConfig,
    pub transport: ServerTransportConfig,
    pub detailed_errors_to_client: bool,
    pub max_ports_per_client: i64,
    pub user_conn_timeout: i64,
    pub udp_packet_size: i64,
    pub nathole_analysis_data_reserve_hours: i64,
    pub allow_ports: Vec<PortsRange>,
    pub http_plugins: Vec<HttpPluginOptions>,
    /// Ours, not frp's: seconds a stop (SIGTERM) waits for live connections to finish before
    /// exiting; 0 stops at once. A second signal always stops at once.
    pub graceful_stop_timeout: i64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            version: None,
            bind_addr: "0.0.0.0".into(),
            bind_port: 7000,
            kcp_bind_port: 0,
            quic_bind_port: 0,
            proxy_bind_addr: String::new(),
            vhost_http_port: 0,
            vhost_http_timeout: 60,
            vhost_https_port: 0,
            tcpmux_http_connect_port: 0,
            tcpmux_passthrough: false,
            sub_domain_host: String::new(),
            custom_404_page: String::new(),
            ssh_tunnel_gateway: SshTunnelGateway::default(),
            web_server: WebServerConfig::default(),
            enable_prometheus: false,
            log: LogConfig::default(),
            auth: ServerAuthConfig::default(),
            transport: ServerTransportConfig::default(),
            detailed_errors_to_client: true,
            max_ports_per_client: 0,
            user_conn_timeout: 10,
            udp_packet_size: 1500,
            nathole_analysis_data_reserve_hours: 168,
            allow_ports: Vec::new(),
            http_plugins: Vec::new(),
            graceful_stop_timeout: 5,
        }
    }
}

impl ServerConfig {
    /// Fill the defaults that depend on other keys (frp's `Complete()`).
    pub fn complete(&mut self) {
        if self.proxy_bind_addr.is_empty() {
            self.proxy_bind_addr = self.bind_addr.clone();
        }
        if self.transport.heartbeat_timeout.is_none() {
            self.transport.heartbeat_timeout = Some(if self.transport.tcp_mux { -1 } else { 90 });
        }
        if !self.transport.tls.trusted_ca_file.is_empty() {
            self.transport.tls.force = true;
        }
    }

    pub fn heartbeat_timeout(&self) -> i64 {
        self.transport
            .heartbeat_timeout
            .unwrap_or(if self.transport.tcp_mux { -1 } else { 90 })
    }

    /// Whether `port` may be bound by a tcp/udp proxy according to `allowPorts`.
    pub fn port_allowed(&self, port: u16) -> bool {
        let p = port as i64;
        self.allow_ports.is_empty()
            || self.allow_ports.iter().any(|r| {
                let (a, b) = r.bounds();
                a <= p && p <= b
            })
    }

    /// Validation as frp v0.65.0 does it; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        if !self.auth.token.is_empty() && self.auth.token_source.is_some() {
            return Err("auth.token and auth.tokenSource cannot both be set".into());
        }
        if self.graceful_stop_timeout < 0 {
            return Err(format!(
                "gracefulStopTimeout: invalid value {}, must be 0 or more seconds",
                self.graceful_stop_timeout
            ));
        }
        if !LOG_LEVELS.contains(&self.log.level.as_str()) {
            return Err(format!("log.level: invalid log level '{}', optional values are trace, debug, info, warn, error", self.log.level));
        }
        for (key, port) in [
            ("bindPort", self.bind_port),
            ("kcpBindPort", self.kcp_bind_port),
            ("quicBindPort", self.quic_bind_port),
            ("vhostHTTPPort", self.vhost_http_port),
            ("vhostHTTPSPort", self.vhost_https_port),
            ("tcpmuxHTTPConnectPort", self.tcpmux_http_connect_port),
            ("webServer.port", self.web_server.port),
        ] {
            if !(0..=65535).contains(&port) {
                return Err(format!(
                    "{key}: invalid port {port}, must be within 0-65535"
                ));
            }
        }
        for (i, r) in self.allow_ports.iter().enumerate() {
            let (a, b) = r.bounds();
            if !(1..=65535).contains(&a) || !(1..=65535).contains(&b) || a > b {
                return Err(format!("allowPorts[{i}]: invalid port range {a}-{b}"));
            }
        }
        if let Some(tls) = &self.web_server.tls {
            if tls.cert_file.is_empty() || tls.key_file.is_empty() {
                return Err("webServer.tls: certFile and keyFile must both be set".into());
            }
        }
        for p in &self.http_plugins {
            for op in &p.ops {
                if ![
                    "Login",
                    "NewProxy",
                    "CloseProxy",
                    "Ping",
                    "NewWorkConn",
                    "NewUserConn",
                ]
                .contains(&op.as_str())
                {
                    return Err(format!("httpPlugins[{}].ops: invalid op '{op}'", p.name));
                }
            }
        }
        Ok(())
    }
}
