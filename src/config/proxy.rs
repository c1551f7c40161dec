//! `[[proxies]]` and `[[visitors]]` (config.md §4.2, §4.3).
//!
//! One flat struct per list holds the keys of every type; type-specific keys are `Option`s so
//! validation can name a key that does not belong to the proxy's type, as frp's strict per-type
//! decoding does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::types::Secret;

pub const PROXY_TYPES: &[&str] = &[
    "tcp", "udp", "http", "https", "tcpmux", "stcp", "sudp", "xtcp",
];
pub const VISITOR_TYPES: &[&str] = &["stcp", "sudp", "xtcp"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyTransport {
    pub use_encryption: bool,
    pub use_compression: bool,
    pub bandwidth_limit: String,
    pub bandwidth_limit_mode: String,
    pub proxy_protocol_version: String,
}

impl Default for ProxyTransport {
    fn default() -> Self {
        ProxyTransport {
            use_encryption: false,
            use_compression: false,
            bandwidth_limit: String::new(),
            bandwidth_limit_mode: "client".into(),
            proxy_protocol_version: String::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadBalancer {
    pub group: String,
    pub group_key: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpHeader {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthCheck {
    #[serde(rename = "type")]
    pub kind: String,
    pub timeout_seconds: i64,
    pub max_failed: i64,
    pub interval_seconds: i64,
    pub path: String,
    pub http_headers: Vec<HttpHeader>,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            kind: String::new(),
            timeout_seconds: 3,
            max_failed: 1,
            interval_seconds: 10,
            path: String::new(),
            http_headers: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct HeaderOperations {
    pub set: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct NatTraversal {
    pub disable_assisted_addrs: bool,
}

/// A client plugin table: `type` plus its options (checked per plugin type by a later issue).
pub type PluginOptions = BTreeMap<String, serde_json::Value>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyConfig {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub annotations: BTreeMap<String, String>,
    pub metadatas: BTreeMap<String, String>,
    #[serde(rename = "localIP")]
    pub local_ip: String,
    pub local_port: i64,
    pub plugin: Option<PluginOptions>,
    pub transport: ProxyTransport,
    pub load_balancer: LoadBalancer,
    pub health_check: HealthCheck,
    // tcp, udp
    pub remote_port: Option<i64>,
    // http, https, tcpmux
    pub custom_domains: Option<Vec<String>>,
    pub subdomain: Option<String>,
    // http
    pub locations: Option<Vec<String>>,
    pub host_header_rewrite: Option<String>,
    pub request_headers: Option<HeaderOperations>,
    pub response_headers: Option<HeaderOperations>,
    // http, tcpmux
    #[serde(rename = "httpUser")]
    pub http_user: Option<String>,
    #[serde(rename = "httpPassword")]
    pub http_password: Option<Secret>,
    #[serde(rename = "routeByHTTPUser")]
    pub route_by_http_user: Option<String>,
    // tcpmux
    pub multiplexer: Option<String>,
    // stcp, sudp, xtcp
    pub secret_key: Option<Secret>,
    pub allow_users: Option<Vec<String>>,
    // xtcp
    pub nat_traversal: Option<NatTraversal>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            name: String::new(),
            kind: String::new(),
            annotations: BTreeMap::new(),
            metadatas: BTreeMap::new(),
            local_ip: "127.0.0.1".into(),
            local_port: 0,
            plugin: None,
            transport: ProxyTransport::default(),
            load_balancer: LoadBalancer::default(),
            health_check: HealthCheck::default(),
            remote_port: None,
            custom_domains: None,
            subdomain: None,
            locations: None,
            host_header_rewrite: None,
            request_headers: None,
            response_headers: None,
            http_user: None,
            http_password: None,
            route_by_http_user: None,
            multiplexer: None,
            secret_key: None,
            allow_users: None,
            nat_traversal: None,
        }
    }
}

impl ProxyConfig {
    pub(crate) fn complete(&mut self, prefix: &str) {
        self.name = format!("{prefix}{}", self.name);
        if self.local_ip.is_empty() {
            self.local_ip = "127.0.0.1".into();
        }
        if self.transport.bandwidth_limit_mode.is_empty() {
            self.transport.bandwidth_limit_mode = "client".into();
        }
    }

    /// Keys set on this proxy that its type does not have.
    fn foreign_keys(&self) -> Vec<&'static str> {
        let t = self.kind.as_str();
        let allowed = |types: &[&str]| types.contains(&t);
        let mut bad = Vec::new();
        let mut check = |set: bool, key: &'static str, types: &[&str]| {
            if set && !allowed(types) {
                bad.push(key);
            }
        };
        check(self.remote_port.is_some(), "remotePort", &["tcp", "udp"]);
        check(
            self.custom_domains.is_some(),
            "customDomains",
            &["http", "https", "tcpmux"],
        );
        check(
            self.subdomain.is_some(),
            "subdomain",
            &["http", "https", "tcpmux"],
        );
        check(self.locations.is_some(), "locations", &["http"]);
        check(
            self.host_header_rewrite.is_some(),
            "hostHeaderRewrite",
            &["http"],
        );
        check(self.request_headers.is_some(), "requestHeaders", &["http"]);
        check(
            self.response_headers.is_some(),
            "responseHeaders",
            &["http"],
        );
        check(self.http_user.is_some(), "httpUser", &["http", "tcpmux"]);
        check(
            self.http_password.is_some(),
            "httpPassword",
            &["http", "tcpmux"],
        );
        check(
            self.route_by_http_user.is_some(),
            "routeByHTTPUser",
            &["http", "tcpmux"],
        );
        check(self.multiplexer.is_some(), "multiplexer", &["tcpmux"]);
        check(
            self.secret_key.is_some(),
            "secretKey",
            &["stcp", "sudp", "xtcp"],
        );
        check(
            self.allow_users.is_some(),
            "allowUsers",
            &["stcp", "sudp", "xtcp"],
        );
        check(self.nat_traversal.is_some(), "natTraversal", &["xtcp"]);
        bad
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.name.is_empty() {
            return Err("name: name should not be empty".into());
        }
        crate::escape::check_no_control("name", &self.name).map_err(|e| format!("name: {e}"))?;
        if !PROXY_TYPES.contains(&self.kind.as_str()) {
            return Err(format!("type: unknown proxy type '{}'", self.kind));
        }
        if let Some(key) = self.foreign_keys().first() {
            return Err(format!("{key}: unknown field for proxy type {}", self.kind));
        }
        if let Some(plugin) = &self.plugin {
            validate_plugin(plugin)?;
        }
        if self.plugin.is_none() && !(1..=65535).contains(&self.local_port) {
            return Err(format!("localPort: invalid localPort {}", self.local_port));
        }
        if let Some(p) = self.remote_port {
            if !(0..=65535).contains(&p) {
                return Err(format!("remotePort: invalid remotePort {p}"));
            }
        }
        crate::transport::wrap::parse_bandwidth(&self.transport.bandwidth_limit)
            .map_err(|e| format!("transport.bandwidthLimit: {e}"))?;
        if !matches!(
            self.transport.bandwidth_limit_mode.as_str(),
            "client" | "server"
        ) {
            return Err(format!(
                "transport.bandwidthLimitMode: invalid value '{}', optional values are client, server",
                self.transport.bandwidth_limit_mode
            ));
        }
        if !matches!(
            self.transport.proxy_protocol_version.as_str(),
            "" | "v1" | "v2"
        ) {
            return Err(format!(
                "transport.proxyProtocolVersion: invalid value '{}', optional values are v1, v2",
                self.transport.proxy_protocol_version
            ));
        }
        if !matches!(self.health_check.kind.as_str(), "" | "tcp" | "http") {
            return Err(format!(
                "healthCheck.type: invalid value '{}'",
                self.health_check.kind
            ));
        }
        if self.health_check.kind == "http" && self.health_check.path.is_empty() {
            return Err("healthCheck.path: path is required for http health check".into());
        }
        if matches!(self.kind.as_str(), "http") {
            let domains = self.custom_domains.as_ref().is_some_and(|d| !d.is_empty());
            let sub = self.subdomain.as_ref().is_some_and(|s| !s.is_empty());
            if !domains && !sub {
                return Err("customDomains and subdomain should set at least one of them".into());
            }
        }
        if self.kind == "tcpmux" {
            let m = self.multiplexer.as_deref().unwrap_or("");
            if m != "httpconnect" {
                return Err(format!("multiplexer: not supported multiplexer '{m}'"));
            }
        }
        Ok(())
    }
}

/// Client plugin options (config.md §4.4): (type, allowed keys, required keys).
const PLUGINS: &[(&str, &[&str], &[&str])] = &[
    ("http_proxy", &["httpUser", "httpPassword"], &[]),
    ("socks5", &["username", "password"], &[]),
    (
        "static_file",
        &["localPath", "stripPrefix", "httpUser", "httpPassword"],
        &["localPath"],
    ),
    ("unix_domain_socket", &["unixPath"], &["unixPath"]),
    (
        "http2https",
        &["localAddr", "hostHeaderRewrite", "requestHeaders"],
        &["localAddr"],
    ),
    (
        "http2http",
        &["localAddr", "hostHeaderRewrite", "requestHeaders"],
        &[],
    ),
    (
        "https2http",
        &[
            "localAddr",
            "hostHeaderRewrite",
            "requestHeaders",
            "enableHTTP2",
            "crtPath",
            "keyPath",
        ],
        &["localAddr"],
    ),
    (
        "https2https",
        &[
            "localAddr",
            "hostHeaderRewrite",
            "requestHeaders",
            "enableHTTP2",
            "crtPath",
            "keyPath",
        ],
        &["localAddr"],
    ),
    (
        "tls2raw",
        &["localAddr", "crtPath", "keyPath"],
        &["localAddr"],
    ),
    ("virtual_net", &[], &[]),
];

/// A plugin table's `type` (keys match case-insensitively, as frp's); empty when unset.
pub fn plugin_type(plugin: &PluginOptions) -> &str {
    plugin
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("type"))
        .and_then(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn validate_plugin(plugin: &PluginOptions) -> Result<(), String> {
    let kind = plugin_type(plugin);
    let Some((_, allowed, required)) = PLUGINS.iter().find(|(t, _, _)| *t == kind) else {
        return Err(format!("plugin.type: invalid plugin type '{kind}'"));
    };
    for key in plugin.keys().filter(|k| k.as_str() != "type") {
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(key)) {
            return Err(format!(
                "plugin.{key}: unknown field for plugin type {kind}"
            ));
        }
    }
    for key in *required {
        let set = plugin
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .is_some_and(|(_, v)| v.as_str().is_some_and(|s| !s.is_empty()));
        if !set {
            return Err(format!(
                "plugin.{key}: {key} is required for plugin type {kind}"
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct VisitorTransport {
    pub use_encryption: bool,
    pub use_compression: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct VisitorConfig {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub transport: VisitorTransport,
    pub secret_key: Secret,
    pub server_user: String,
    pub server_name: String,
    pub bind_addr: String,
    pub bind_port: i64,
    pub plugin: Option<PluginOptions>,
    // xtcp
    pub protocol: Option<String>,
    pub keep_tunnel_open: Option<bool>,
    pub max_retries_an_hour: Option<i64>,
    pub min_retry_interval: Option<i64>,
    pub fallback_to: Option<String>,
    pub fallback_timeout_ms: Option<i64>,
    pub nat_traversal: Option<NatTraversal>,
}

impl Default for VisitorConfig {
    fn default() -> Self {
        VisitorConfig {
            name: String::new(),
            kind: String::new(),
            transport: VisitorTransport::default(),
            secret_key: Secret::default(),
            server_user: String::new(),
            server_name: String::new(),
            bind_addr: "127.0.0.1".into(),
            bind_port: 0,
            plugin: None,
            protocol: None,
            keep_tunnel_open: None,
            max_retries_an_hour: None,
            min_retry_interval: None,
            fallback_to: None,
            fallback_timeout_ms: None,
            nat_traversal: None,
        }
    }
}

impl VisitorConfig {
    pub(crate) fn complete(&mut self, user: &str) {
        if !user.is_empty() {
            self.name = format!("{user}.{}", self.name);
        }
        if !self.server_user.is_empty() {
            self.server_name = format!("{}.{}", self.server_user, self.server_name);
        } else if !user.is_empty() {
            self.server_name = format!("{user}.{}", self.server_name);
        }
        if self.kind == "xtcp" {
            if let (Some(f), false) = (&mut self.fallback_to, user.is_empty()) {
                if !f.is_empty() {
                    *f = format!("{user}.{f}");
                }
            }
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.name.is_empty() {
            return Err("name: name should not be empty".into());
        }
        crate::escape::check_no_control("name", &self.name).map_err(|e| format!("name: {e}"))?;
        crate::escape::check_no_control("serverName", &self.server_name)
            .map_err(|e| format!("serverName: {e}"))?;
        crate::escape::check_no_control("serverUser", &self.server_user)
            .map_err(|e| format!("serverUser: {e}"))?;
        if !VISITOR_TYPES.contains(&self.kind.as_str()) {
            return Err(format!("type: unknown visitor type '{}'", self.kind));
        }
        if self.kind != "xtcp" {
            let xtcp_only = [
                (self.protocol.is_some(), "protocol"),
                (self.keep_tunnel_open.is_some(), "keepTunnelOpen"),
                (self.max_retries_an_hour.is_some(), "maxRetriesAnHour"),
                (self.min_retry_interval.is_some(), "minRetryInterval"),
                (self.fallback_to.is_some(), "fallbackTo"),
                (self.fallback_timeout_ms.is_some(), "fallbackTimeoutMs"),
                (self.nat_traversal.is_some(), "natTraversal"),
            ];
            if let Some((_, key)) = xtcp_only.iter().find(|(set, _)| *set) {
                return Err(format!(
                    "{key}: unknown field for visitor type {}",
                    self.kind
                ));
            }
        }
        if self.bind_port == 0
            || self.bind_port > 65535
            || (self.bind_port < 0 && self.kind == "sudp")
        {
            return Err(format!("bindPort: invalid bindPort {}", self.bind_port));
        }
        if let Some(p) = &self.protocol {
            if !matches!(p.as_str(), "quic" | "kcp") {
                return Err(format!(
                    "protocol: invalid protocol '{p}', optional values are quic, kcp"
                ));
            }
        }
        Ok(())
    }
}
