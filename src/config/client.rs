//! frpc schema (config.md §4.1).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::proxy::{ProxyConfig, VisitorConfig};
use super::types::*;
use crate::escape;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientAuthOidc {
    #[serde(rename = "clientID")]
    pub client_id: String,
    pub client_secret: Secret,
    pub audience: String,
    pub scope: String,
    #[serde(rename = "tokenEndpointURL")]
    pub token_endpoint_url: String,
    pub additional_endpoint_params: BTreeMap<String, String>,
    pub trusted_ca_file: String,
    pub insecure_skip_verify: bool,
    #[serde(rename = "proxyURL")]
    pub proxy_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientAuthConfig {
    pub method: AuthMethod,
    pub additional_scopes: Vec<AuthScope>,
    pub token: Secret,
    pub token_source: Option<ValueSource>,
    pub oidc: ClientAuthOidc,
}

impl Default for ClientAuthConfig {
    fn default() -> Self {
        ClientAuthConfig {
            method: AuthMethod::Token,
            additional_scopes: Vec::new(),
            token: Secret::default(),
            token_source: None,
            oidc: ClientAuthOidc::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientTlsConfig {
    pub enable: bool,
    #[serde(rename = "disableCustomTLSFirstByte")]
    pub disable_custom_tls_first_byte: bool,
    pub cert_file: String,
    pub key_file: String,
    pub trusted_ca_file: String,
    pub server_name: String,
}

impl Default for ClientTlsConfig {
    fn default() -> Self {
        ClientTlsConfig {
            enable: true,
            disable_custom_tls_first_byte: true,
            cert_file: String::new(),
            key_file: String::new(),
            trusted_ca_file: String::new(),
            server_name: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientTransportConfig {
    pub protocol: TransportProtocol,
    pub dial_server_timeout: i64,
    pub dial_server_keepalive: i64,
    #[serde(rename = "connectServerLocalIP")]
    pub connect_server_local_ip: String,
    #[serde(rename = "proxyURL")]
    pub proxy_url: String,
    pub pool_count: i64,
    pub tcp_mux: bool,
    pub tcp_mux_keepalive_interval: i64,
    pub quic: QuicConfig,
    /// `None` until [`ClientConfig::complete`]: the defaults depend on `tcp_mux`.
    pub heartbeat_interval: Option<i64>,
    pub heartbeat_timeout: Option<i64>,
    pub tls: ClientTlsConfig,
}

impl Default for ClientTransportConfig {
    fn default() -> Self {
        ClientTransportConfig {
            protocol: TransportProtocol::Tcp,
            dial_server_timeout: 10,
            dial_server_keepalive: 7200,
            connect_server_local_ip: String::new(),
            proxy_url: String::new(),
            pool_count: 1,
            tcp_mux: true,
            tcp_mux_keepalive_interval: 30,
            quic: QuicConfig::default(),
            heartbeat_interval: None,
            heartbeat_timeout: None,
            tls: ClientTlsConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct VirtualNetConfig {
    pub address: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientConfig {
    pub version: Option<String>,
    pub user: String,
    pub server_addr: String,
    pub server_port: i64,
    pub nat_hole_stun_server: String,
    pub dns_server: String,
    pub login_fail_exit: bool,
    pub start: Vec<String>,
    pub log: LogConfig,
    pub web_server: WebServerConfig,
    pub auth: ClientAuthConfig,
    pub transport: ClientTransportConfig,
    pub virtual_net: VirtualNetConfig,
    pub feature_gates: BTreeMap<String, bool>,
    pub udp_packet_size: i64,
    pub metadatas: BTreeMap<String, String>,
    pub includes: Vec<String>,
    pub proxies: Vec<ProxyConfig>,
    pub visitors: Vec<VisitorConfig>,
    /// Ours, not frp's: seconds a stop (SIGTERM) waits for live connections to finish before
    /// exiting; 0 stops at once. A second signal always stops at once.
    pub graceful_stop_timeout: i64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            version: None,
            user: String::new(),
            server_addr: "0.0.0.0".into(),
            server_port: 7000,
            nat_hole_stun_server: "stun.easyvoip.com:3478".into(),
            dns_server: String::new(),
            login_fail_exit: true,
            start: Vec::new(),
            log: LogConfig::default(),
            web_server: WebServerConfig::default(),
            auth: ClientAuthConfig::default(),
            transport: ClientTransportConfig::default(),
            virtual_net: VirtualNetConfig::default(),
            feature_gates: BTreeMap::new(),
            udp_packet_size: 1500,
            metadatas: BTreeMap::new(),
            includes: Vec::new(),
            proxies: Vec::new(),
            visitors: Vec::new(),
            graceful_stop_timeout: 5,
        }
    }
}

impl ClientConfig {
    /// Fill the defaults that depend on other keys, then prefix names with `user.` (§1.4).
    pub fn complete(&mut self) {
        let mux = self.transport.tcp_mux;
        self.transport
            .heartbeat_interval
            .get_or_insert(if mux { -1 } else { 30 });
        self.transport
            .heartbeat_timeout
            .get_or_insert(if mux { -1 } else { 90 });
        if !self.start.is_empty() {
            let start = self.start.clone();
            self.proxies.retain(|p| start.contains(&p.name));
            self.visitors.retain(|v| start.contains(&v.name));
        }
        let prefix = if self.user.is_empty() {
            String::new()
        } else {
            format!("{}.", self.user)
        };
        for p in &mut self.proxies {
            p.complete(&prefix);
        }
        for v in &mut self.visitors {
            v.complete(&self.user);
        }
    }

    pub fn heartbeat_interval(&self) -> i64 {
        self.transport
            .heartbeat_interval
            .unwrap_or(if self.transport.tcp_mux { -1 } else { 30 })
    }

    pub fn heartbeat_timeout(&self) -> i64 {
        self.transport
            .heartbeat_timeout
            .unwrap_or(if self.transport.tcp_mux { -1 } else { 90 })
    }

    /// The SNI / verification name: `transport.tls.serverName`, else `serverAddr`.
    pub fn tls_server_name(&self) -> &str {
        if self.transport.tls.server_name.is_empty() {
            &self.server_addr
        } else {
            &self.transport.tls.server_name
        }
    }

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
        if !(0..=65535).contains(&self.server_port) {
            return Err(format!("serverPort: invalid port {}", self.server_port));
        }
        if !(0..=65535).contains(&self.web_server.port) {
            return Err(format!(
                "webServer.port: invalid port {}",
                self.web_server.port
            ));
        }
        let (hi, ht) = (self.heartbeat_interval(), self.heartbeat_timeout());
        if hi > 0 && ht > 0 && ht < hi {
            return Err("transport.heartbeatTimeout: invalid heartbeatTimeout, heartbeatTimeout is less than heartbeatInterval".into());
        }
        // The user prefixes every proxy name on frps; neither may hold a control character.
        escape::check_no_control("user", &self.user).map_err(|e| format!("user: {e}"))?;
        let mut names = std::collections::HashSet::new();
        for p in &self.proxies {
            p.validate()
                .map_err(|e| format!("proxy [{}]: {e}", escape::escaped(&p.name)))?;
            if !names.insert(p.name.as_str()) {
                return Err(format!(
                    "proxy [{}]: duplicate name",
                    escape::escaped(&p.name)
                ));
            }
        }
        let mut vnames = std::collections::HashSet::new();
        for v in &self.visitors {
            v.validate()
                .map_err(|e| format!("visitor [{}]: {e}", escape::escaped(&v.name)))?;
            if !vnames.insert(v.name.as_str()) {
                return Err(format!(
                    "visitor [{}]: duplicate name",
                    escape::escaped(&v.name)
                ));
            }
        }
        Ok(())
    }
}
