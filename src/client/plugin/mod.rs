//! frpc client plugins (protocol.md §10.11, config.md §4.4): a proxy with `plugin.type` set hands
//! each (already §8-unwrapped) work connection to its plugin instead of dialing
//! `localIP:localPort`. Nothing here depends on the proxy type: a plugin sees the work stream, its
//! options and the user's addresses from StartWorkConn.
//!
//! A [`Plugin`] is built once per proxy (certificates are loaded, or a self-signed one made, at
//! that point, as frp does when the proxy starts) and then serves any number of connections.
//!
//! The PROXY protocol header (`transport.proxyProtocolVersion`, §8.5) is handed to the plugin;
//! like frp, only `unix_domain_socket` writes it (to the unix socket). The http plugins put the
//! user's address into `X-Forwarded-For` instead, where frp does.

mod http;
mod http2http;
mod http2https;
mod http_proxy;
mod https2http;
mod https2https;
mod reverse;
mod socks5;
mod static_file;
mod tls2raw;
mod unix_domain_socket;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hyper::header::{HeaderName, HeaderValue, HOST};
use serde_json::Value;

use crate::config::proxy::PluginOptions;
use crate::proto::msg::StartWorkConn;
use crate::transport::tls::{self, ClientTls};
use crate::transport::BoxStream;

/// What frpc knows about one user connection besides its bytes.
#[derive(Debug, Clone, Default)]
pub struct ConnInfo {
    /// The user's address (StartWorkConn `src_addr:src_port`), when frps sent one.
    pub src: Option<SocketAddr>,
    /// The frps-side address the user connected to (`dst_addr:dst_port`, 127.0.0.1 if empty).
    pub dst: Option<SocketAddr>,
    /// The PROXY protocol header for this connection, when the proxy is configured to send one.
    pub proxy_protocol_header: Option<Vec<u8>>,
}

impl ConnInfo {
    /// As frp builds it: addresses only when frps sent a source address and port.
    pub fn new(start: &StartWorkConn, proxy_protocol_header: Option<Vec<u8>>) -> ConnInfo {
        let mut info = ConnInfo {
            proxy_protocol_header,
            ..Default::default()
        };
        if !start.src_addr.is_empty() && start.src_port != 0 {
            let dst_addr = if start.dst_addr.is_empty() {
                "127.0.0.1"
            } else {
                start.dst_addr.as_str()
            };
            info.src = parse_ip(&start.src_addr).map(|ip| SocketAddr::new(ip, start.src_port));
            info.dst = parse_ip(dst_addr).map(|ip| SocketAddr::new(ip, start.dst_port));
        }
        info
    }
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    s.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

/// A proxy's plugin, ready to serve work connections.
pub struct Plugin {
    kind: &'static str,
    imp: Imp,
}

enum Imp {
    HttpProxy(Arc<http_proxy::HttpProxy>),
    Socks5(socks5::Socks5),
    StaticFile(Arc<static_file::StaticFile>),
    UnixDomainSocket(unix_domain_socket::UnixDomainSocket),
    /// http2http, http2https, https2http, https2https: one reverse proxy, four settings.
    Forward(Arc<reverse::Forward>),
    Tls2Raw(tls2raw::Tls2Raw),
}

impl Plugin {
    /// Build the plugin a proxy's `plugin` table describes. Errors are one line without the
    /// `plugin.` prefix's proxy name (the caller adds it).
    pub fn new(opts: &PluginOptions) -> Result<Plugin, String> {
        let o = Opts(opts);
        let (kind, imp): (&'static str, Imp) = match crate::config::proxy::plugin_type(opts) {
            "http_proxy" => ("http_proxy", Imp::HttpProxy(Arc::new(http_proxy::new(&o)?))),
            "socks5" => ("socks5", Imp::Socks5(socks5::new(&o)?)),
            "static_file" => (
                "static_file",
                Imp::StaticFile(Arc::new(static_file::new(&o)?)),
            ),
            "unix_domain_socket" => (
                "unix_domain_socket",
                Imp::UnixDomainSocket(unix_domain_socket::new(&o)?),
            ),
            "http2http" => ("http2http", Imp::Forward(Arc::new(http2http::new(&o)?))),
            "http2https" => ("http2https", Imp::Forward(Arc::new(http2https::new(&o)?))),
            "https2http" => ("https2http", Imp::Forward(Arc::new(https2http::new(&o)?))),
            "https2https" => ("https2https", Imp::Forward(Arc::new(https2https::new(&o)?))),
            "tls2raw" => ("tls2raw", Imp::Tls2Raw(tls2raw::new(&o)?)),
            "virtual_net" => return Err("is not supported by this frpc build yet".into()),
            other => return Err(format!("invalid plugin type '{other}'")),
        };
        Ok(Plugin { kind, imp })
    }

    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Serve one work connection until it is done.
    pub async fn handle(&self, proxy_name: &str, work: BoxStream, info: ConnInfo) {
        match &self.imp {
            Imp::HttpProxy(p) => p.clone().handle(proxy_name, work).await,
            Imp::Socks5(p) => p.handle(proxy_name, work).await,
            Imp::StaticFile(p) => p.clone().handle(proxy_name, work).await,
            Imp::UnixDomainSocket(p) => p.handle(proxy_name, work, info).await,
            Imp::Forward(p) => p.clone().handle(proxy_name, work, info).await,
            Imp::Tls2Raw(p) => p.handle(proxy_name, work).await,
        }
    }
}

/// A plugin table read the way frp decodes it: keys case-insensitively (an exact match first).
struct Opts<'a>(&'a PluginOptions);

impl<'a> Opts<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        get_ci(self.0.iter(), key)
    }

    /// A string option; absent is empty.
    fn string(&self, key: &str) -> Result<String, String> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(format!("plugin.{key}: expected a string")),
        }
    }

    /// A string option that must be set.
    fn required(&self, key: &str) -> Result<String, String> {
        let s = self.string(key)?;
        if s.is_empty() {
            return Err(format!("plugin.{key}: {key} is required"));
        }
        Ok(s)
    }

    fn bool(&self, key: &str, default: bool) -> Result<bool, String> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(format!("plugin.{key}: expected true or false")),
        }
    }

    /// `hostHeaderRewrite`, as a Host header value.
    fn host_rewrite(&self) -> Result<Option<HeaderValue>, String> {
        let s = self.string("hostHeaderRewrite")?;
        if s.is_empty() {
            return Ok(None);
        }
        HeaderValue::from_str(&s)
            .map(Some)
            .map_err(|_| format!("plugin.hostHeaderRewrite: invalid header value '{s}'"))
    }

    /// `requestHeaders.set`, checked as HTTP header names and values. Host is left out: frp sets
    /// it on the header map, where Go's client ignores it (hostHeaderRewrite is the way).
    fn header_set(&self) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        let set = match self.get("requestHeaders") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Object(m)) => match get_ci(m.iter(), "set") {
                None | Some(Value::Null) => return Ok(Vec::new()),
                Some(Value::Object(set)) => set,
                Some(_) => return Err("plugin.requestHeaders.set: expected a table".into()),
            },
            Some(_) => return Err("plugin.requestHeaders: expected a table".into()),
        };
        let mut out = Vec::new();
        for (k, v) in set {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("plugin.requestHeaders.set: invalid header name '{k}'"))?;
            let value = v
                .as_str()
                .and_then(|s| HeaderValue::from_str(s).ok())
                .ok_or_else(|| format!("plugin.requestHeaders.set.{k}: invalid header value"))?;
            if name != HOST {
                out.push((name, value));
            }
        }
        Ok(out)
    }
}

/// TLS terminated on the work connection: `crtPath`/`keyPath`, or a self-signed certificate made
/// now when either is empty (frp's NewServerTLSConfig); ALPN offers h2 unless `enableHTTP2 =
/// false`.
fn front_tls(o: &Opts) -> Result<tokio_rustls::TlsAcceptor, String> {
    let alpn: &[&[u8]] = if o.bool("enableHTTP2", true)? {
        &[b"h2", b"http/1.1"]
    } else {
        &[b"http/1.1"]
    };
    server_tls(o, alpn)
}

fn server_tls(o: &Opts, alpn: &[&[u8]]) -> Result<tokio_rustls::TlsAcceptor, String> {
    let config = tls::server_config(&o.string("crtPath")?, &o.string("keyPath")?, "")
        .map_err(|e| format!("gen TLS config error: {e}"))?;
    let mut config = (*config).clone();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// TLS to an https backend at `local_addr`, its certificate not verified (frp's
/// `InsecureSkipVerify`); SNI is the address's host name (none for an IP).
fn backend_tls(local_addr: &str) -> Result<ClientTls, String> {
    let (host, _) =
        http::split_host_port(local_addr, 443).map_err(|e| format!("plugin.localAddr: {e}"))?;
    tls::client_config(host, "", "", "").map_err(|e| format!("plugin.localAddr: {e}"))
}

fn get_ci<'v>(
    mut entries: impl Iterator<Item = (&'v String, &'v Value)> + Clone,
    key: &str,
) -> Option<&'v Value> {
    entries
        .clone()
        .find(|(k, _)| k.as_str() == key)
        .or_else(|| entries.find(|(k, _)| k.eq_ignore_ascii_case(key)))
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: serde_json::Value) -> PluginOptions {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn options_are_read_case_insensitively() {
        let o = opts(serde_json::json!({
            "type": "http2http",
            "LOCALADDR": "127.0.0.1:1",
            "requestheaders": {"Set": {"X-From": "frp", "host": "ignored"}}
        }));
        let o = Opts(&o);
        assert_eq!(o.string("localAddr").unwrap(), "127.0.0.1:1");
        let set = o.header_set().unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set[0].0, "x-from");
        assert_eq!(o.bool("enableHTTP2", true), Ok(true));
    }

    #[test]
    fn bad_options_are_one_line_errors() {
        let bad = |v| Plugin::new(&opts(v)).err().unwrap();
        assert_eq!(
            bad(serde_json::json!({"type": "nope"})),
            "invalid plugin type 'nope'"
        );
        assert_eq!(
            bad(serde_json::json!({"type": "tls2raw"})),
            "plugin.localAddr: localAddr is required"
        );
        assert_eq!(
            bad(serde_json::json!({"type": "socks5", "username": 1})),
            "plugin.username: expected a string"
        );
        let e = bad(
            serde_json::json!({"type": "https2http", "localAddr": "x:1", "crtPath": "/nonexistent.crt", "keyPath": "/nonexistent.key"}),
        );
        assert!(e.contains("/nonexistent.crt"), "{e}");
    }

    #[test]
    fn conn_info_follows_frp() {
        let start = StartWorkConn {
            src_addr: "1.2.3.4".into(),
            src_port: 5678,
            dst_addr: String::new(),
            dst_port: 6000,
            ..Default::default()
        };
        let info = ConnInfo::new(&start, None);
        assert_eq!(info.src, Some("1.2.3.4:5678".parse().unwrap()));
        assert_eq!(info.dst, Some("127.0.0.1:6000".parse().unwrap()));
        let none = ConnInfo::new(&StartWorkConn::default(), None);
        assert!(none.src.is_none() && none.dst.is_none());
    }
}
