//! Go's `encoding/json` matches keys case-insensitively (`BINDPORT` sets `bindPort`) and frp's
//! non-strict mode ignores unknown keys. serde does neither, so a decoded document is first
//! rewritten against a *sample* of the schema: a value of the config type with every optional
//! table filled in, serialised to JSON, whose object keys are the canonical spellings.

use serde_json::{Map, Value};

use super::client::ClientConfig;
use super::proxy::{NatTraversal, ProxyConfig, VisitorConfig};
use super::server::ServerConfig;
use super::types::{FileSource, Secret, ValueSource, WebServerTls};

/// A config type that can describe its keys.
pub trait Sample {
    fn sample_value() -> Value;
}

impl Sample for ServerConfig {
    fn sample_value() -> Value {
        let mut c = ServerConfig {
            version: Some(String::new()),
            ..Default::default()
        };
        c.web_server.tls = Some(WebServerTls::default());
        c.auth.token_source = Some(token_source());
        c.transport.heartbeat_timeout = Some(0);
        c.allow_ports = vec![Default::default()];
        c.http_plugins = vec![Default::default()];
        serde_json::to_value(c).unwrap_or(Value::Null)
    }
}

impl Sample for ClientConfig {
    fn sample_value() -> Value {
        let mut c = ClientConfig {
            version: Some(String::new()),
            ..Default::default()
        };
        c.web_server.tls = Some(WebServerTls::default());
        c.auth.token_source = Some(token_source());
        c.transport.heartbeat_interval = Some(0);
        c.transport.heartbeat_timeout = Some(0);
        c.proxies = vec![full_proxy()];
        c.visitors = vec![full_visitor()];
        serde_json::to_value(c).unwrap_or(Value::Null)
    }
}

fn token_source() -> ValueSource {
    ValueSource {
        kind: String::new(),
        file: Some(FileSource::default()),
    }
}

fn full_proxy() -> ProxyConfig {
    ProxyConfig {
        plugin: Some(Default::default()),
        remote_port: Some(0),
        custom_domains: Some(vec![]),
        subdomain: Some(String::new()),
        locations: Some(vec![]),
        host_header_rewrite: Some(String::new()),
        request_headers: Some(Default::default()),
        response_headers: Some(Default::default()),
        http_user: Some(String::new()),
        http_password: Some(Secret::default()),
        route_by_http_user: Some(String::new()),
        multiplexer: Some(String::new()),
        secret_key: Some(Secret::default()),
        allow_users: Some(vec![]),
        nat_traversal: Some(NatTraversal::default()),
        health_check: super::proxy::HealthCheck {
            http_headers: vec![Default::default()],
            ..Default::default()
        },
        ..Default::default()
    }
}

fn full_visitor() -> VisitorConfig {
    VisitorConfig {
        plugin: Some(Default::default()),
        protocol: Some(String::new()),
        keep_tunnel_open: Some(false),
        max_retries_an_hour: Some(0),
        min_retry_interval: Some(0),
        fallback_to: Some(String::new()),
        fallback_timeout_ms: Some(0),
        nat_traversal: Some(NatTraversal::default()),
        ..Default::default()
    }
}

/// Rename keys to their canonical spelling (exact match first, then case-insensitive, as Go).
/// Unknown keys are an error naming their path in strict mode and dropped otherwise. Objects
/// whose sample is empty are maps (metadatas, headers, ...): their keys are data, kept as is.
pub fn normalize(v: Value, sample: &Value, strict: bool) -> Result<Value, String> {
    walk(v, sample, strict, "")
}

fn walk(v: Value, sample: &Value, strict: bool, path: &str) -> Result<Value, String> {
    match (v, sample) {
        (Value::Object(obj), Value::Object(shape)) if !shape.is_empty() => {
            let mut out = Map::new();
            for (k, val) in obj {
                let canonical = if shape.contains_key(&k) {
                    Some(k.clone())
                } else {
                    shape.keys().find(|s| s.eq_ignore_ascii_case(&k)).cloned()
                };
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match canonical {
                    Some(c) => {
                        let sub = shape.get(&c).unwrap_or(&Value::Null);
                        let val = walk(val, sub, strict, &child)?;
                        // Go: an exact-case key wins over a case-insensitive one.
                        if k == c || !out.contains_key(&c) {
                            out.insert(c, val);
                        }
                    }
                    None if strict => return Err(child),
                    None => {}
                }
            }
            Ok(Value::Object(out))
        }
        (Value::Array(items), Value::Array(shape)) if !shape.is_empty() => {
            let elem = &shape[0];
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                out.push(walk(item, elem, strict, &format!("{path}[{i}]"))?);
            }
            Ok(Value::Array(out))
        }
        (other, _) => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_case_insensitively_and_unknown_keys_depend_on_strictness() {
        let doc = serde_json::json!({"BINDPORT": 7100, "auth": {"TOKEN": "x"}, "bogus": 1});
        let sample = ServerConfig::sample_value();
        assert_eq!(normalize(doc.clone(), &sample, true).unwrap_err(), "bogus");
        let v = normalize(doc, &sample, false).unwrap();
        let c: ServerConfig = serde_json::from_value(v).unwrap();
        assert_eq!(c.bind_port, 7100);
        assert_eq!(c.auth.token, "x");
    }

    #[test]
    fn map_keys_are_data() {
        let doc = serde_json::json!({"proxies": [{"name": "a", "type": "tcp", "localPort": 1, "Metadatas": {"MiXed": "1"}}]});
        let v = normalize(doc, &ClientConfig::sample_value(), true).unwrap();
        let c: ClientConfig = serde_json::from_value(v).unwrap();
        assert_eq!(
            c.proxies[0].metadatas.get("MiXed").map(String::as_str),
            Some("1")
        );
    }
}
