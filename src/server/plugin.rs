//! Server plugins (apis.md §5): frps asks external HTTP services about logins, new proxies,
//! heartbeats, work connections and user connections, and tells them about closed proxies.
//!
//! [`Manager`] holds the `httpPlugins` in configuration order. [`Manager::call`] runs one
//! operation through every plugin that lists it, each seeing the content as the previous one
//! left it; [`Manager::notify`] sends `CloseProxy` in the background. The content types mirror
//! frp's (`pkg/plugin/server/types.go`) by embedding the protocol messages, so the JSON field
//! names and `omitempty` rules are the wire's.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tracing::{debug, info, warn};

use super::control::ControlHandle;
use crate::config::server::HttpPluginOptions;
use crate::proto::msg::{self, StrMap};

/// The plugin API version frp sends (`pkg/plugin/server/plugin.go`).
pub const API_VERSION: &str = "0.1.0";

/// How long one plugin request may take, connect to last body byte. frp sets no limit (Go's
/// default client), so a plugin that never answers would hold that client's login or control
/// loop, or a user connection, for ever; 30 s is far above any sane plugin's latency and below
/// frp's and our frpc's patience for a NewProxyResp or a user's for a connection.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What frps's Go HTTP client sends; kept so plugins see the same request from either frps.
const GO_USER_AGENT: &str = "Go-http-client/1.1";

/// The operations a plugin may subscribe to (`ops`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Login,
    NewProxy,
    CloseProxy,
    Ping,
    NewWorkConn,
    NewUserConn,
}

impl Op {
    pub const ALL: [Op; 6] = [
        Op::Login,
        Op::NewProxy,
        Op::CloseProxy,
        Op::Ping,
        Op::NewWorkConn,
        Op::NewUserConn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Login => "Login",
            Op::NewProxy => "NewProxy",
            Op::CloseProxy => "CloseProxy",
            Op::Ping => "Ping",
            Op::NewWorkConn => "NewWorkConn",
            Op::NewUserConn => "NewUserConn",
        }
    }

    fn parse(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.as_str() == s)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The client an operation concerns. Never `omitempty`; empty `metas` are `null` (Go's nil map).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserInfo {
    pub user: String,
    #[serde(serialize_with = "null_if_empty")]
    pub metas: StrMap,
    pub run_id: String,
}

impl UserInfo {
    pub fn of(ctl: &ControlHandle) -> UserInfo {
        UserInfo {
            user: ctl.user.clone(),
            metas: ctl.metas.clone(),
            run_id: ctl.run_id.clone(),
        }
    }
}

fn null_if_empty<S: Serializer>(m: &StrMap, s: S) -> Result<S::Ok, S::Error> {
    if m.is_empty() {
        s.serialize_none()
    } else {
        m.serialize(s)
    }
}

/// `Login`: the Login message and the address frpc connected from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoginContent {
    #[serde(flatten)]
    pub login: msg::Login,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_address: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewProxyContent {
    pub user: UserInfo,
    #[serde(flatten)]
    pub new_proxy: msg::NewProxy,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CloseProxyContent {
    pub user: UserInfo,
    #[serde(flatten)]
    pub close_proxy: msg::CloseProxy,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PingContent {
    pub user: UserInfo,
    #[serde(flatten)]
    pub ping: msg::Ping,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewWorkConnContent {
    pub user: UserInfo,
    #[serde(flatten)]
    pub new_work_conn: msg::NewWorkConn,
}

/// `NewUserConn`: no `omitempty` anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewUserConnContent {
    pub user: UserInfo,
    pub proxy_name: String,
    pub proxy_type: String,
    pub remote_addr: String,
}

/// The content of one operation.
pub trait Content: Serialize + DeserializeOwned + Send + Sync + 'static {
    const OP: Op;
}

impl Content for LoginContent {
    const OP: Op = Op::Login;
}
impl Content for NewProxyContent {
    const OP: Op = Op::NewProxy;
}
impl Content for CloseProxyContent {
    const OP: Op = Op::CloseProxy;
}
impl Content for PingContent {
    const OP: Op = Op::Ping;
}
impl Content for NewWorkConnContent {
    const OP: Op = Op::NewWorkConn;
}
impl Content for NewUserConnContent {
    const OP: Op = Op::NewUserConn;
}

/// Keys of nested structs inside a content, matched case-insensitively like the top level.
const CONTENT_NESTED_KEYS: &[&str] = &["user", "client_spec"];

#[derive(Serialize)]
struct PluginRequest<'a, C> {
    version: &'a str,
    op: &'a str,
    content: &'a C,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawResponse {
    reject: bool,
    reject_reason: String,
    unchange: bool,
    content: Option<serde_json::Value>,
}

/// A plugin's answer, its content decoded onto an empty content of the operation's type.
struct PluginResponse<C> {
    reject: bool,
    reject_reason: String,
    unchange: bool,
    content: Option<C>,
}

/// The parsed `addr + path` of one plugin.
struct Endpoint {
    /// `Some` for `https://`: the TLS client and the name to verify.
    tls: Option<(TlsConnector, rustls::pki_types::ServerName<'static>)>,
    /// Host (brackets removed) and port to connect to.
    host: String,
    port: u16,
    /// The `Host` header: the authority as written.
    authority: String,
    /// Path (with any query of its own), to which `op` and `version` are appended.
    path: String,
}

/// One plugin. Its URL is never logged: a path may carry a secret (`?key=...`).
struct HttpPlugin {
    name: String,
    ops: Vec<Op>,
    endpoint: Result<Endpoint, String>,
}

/// The `httpPlugins` of a running frps. Cheap to clone.
#[derive(Clone, Default)]
pub struct Manager {
    plugins: Arc<Vec<HttpPlugin>>,
}

impl Manager {
    pub fn new(opts: &[HttpPluginOptions]) -> Manager {
        let plugins = opts
            .iter()
            .map(|o| {
                let p = HttpPlugin::new(o);
                match &p.endpoint {
                    Ok(_) => info!("plugin [{}] has been registered", p.name),
                    Err(e) => warn!(
                        "plugin [{}]: invalid address: {e}; its operations will fail",
                        p.name
                    ),
                }
                p
            })
            .collect();
        Manager {
            plugins: Arc::new(plugins),
        }
    }

    /// True when some plugin handles `op` (callers skip building the content otherwise).
    pub fn handles(&self, op: Op) -> bool {
        self.plugins.iter().any(|p| p.ops.contains(&op))
    }

    /// Run an operation through its plugins in configuration order. Returns the content as the
    /// last plugin left it, or the error text for the operation: a plugin's `reject_reason`, or
    /// `send <Op> request to plugin error` when a plugin could not be asked (details logged).
    pub async fn call<C: Content>(&self, mut content: C) -> Result<C, String> {
        let op = C::OP;
        if !self.handles(op) {
            return Ok(content);
        }
        // One request id for all plugins of this operation, as frp does.
        let reqid = crate::rand_id();
        for p in self.plugins.iter().filter(|p| p.ops.contains(&op)) {
            let resp = match p.handle(&reqid, &content).await {
                Ok(r) => r,
                Err(e) => {
                    warn!(reqid = %reqid, "send {op} request to plugin [{}] error: {e}", p.name);
                    return Err(format!("send {op} request to plugin error"));
                }
            };
            if resp.reject {
                debug!(reqid = %reqid, "plugin [{}] rejected {op}", p.name);
                if resp.reject_reason.is_empty() {
                    // frp would pass on an empty error, which frpc reads as success.
                    return Err(format!("{op} rejected by server plugin"));
                }
                return Err(resp.reject_reason);
            }
            if !resp.unchange {
                match resp.content {
                    Some(c) => content = c,
                    // frp would replace the content with an empty one here; keeping it is
                    // what the plugin most likely meant by answering without content.
                    None => warn!(
                        reqid = %reqid,
                        "plugin [{}] answered {op} with unchange = false but no content; keeping the content unchanged",
                        p.name
                    ),
                }
            }
        }
        Ok(content)
    }

    /// Tell the plugins about an operation without waiting for them (`CloseProxy`): answers
    /// are ignored, failures logged.
    pub fn notify<C: Content>(&self, content: C) {
        let op = C::OP;
        if !self.handles(op) {
            return;
        }
        let plugins = self.plugins.clone();
        tokio::spawn(async move {
            let reqid = crate::rand_id();
            for p in plugins.iter().filter(|p| p.ops.contains(&op)) {
                if let Err(e) = p.handle(&reqid, &content).await {
                    warn!(reqid = %reqid, "send {op} request to plugin [{}] error: {e}", p.name);
                }
            }
        });
    }
}

impl HttpPlugin {
    fn new(o: &HttpPluginOptions) -> HttpPlugin {
        let mut url = format!("{}{}", o.addr, o.path);
        if !url.starts_with("https://") && !url.starts_with("http://") {
            url = format!("http://{url}");
        }
        HttpPlugin {
            name: o.name.clone(),
            // Validation refuses unknown ops; ignore any that slip through.
            ops: o.ops.iter().filter_map(|s| Op::parse(s)).collect(),
            endpoint: Endpoint::parse(&url, o.tls_verify),
        }
    }

    /// One request to this plugin; Err describes why no usable answer came (for the log: it
    /// names no value from the content).
    async fn handle<C: Content>(
        &self,
        reqid: &str,
        content: &C,
    ) -> Result<PluginResponse<C>, String> {
        let ep = self.endpoint.as_ref().map_err(|e| e.clone())?;
        let op = C::OP.as_str();
        let body = serde_json::to_vec(&PluginRequest {
            version: API_VERSION,
            op,
            content,
        })
        .map_err(|e| format!("encode request: {e}"))?;
        let body = msg::go_escape(body);
        debug!(reqid = %reqid, "send {op} request to plugin [{}]", self.name);
        let (status, bytes) = tokio::time::timeout(REQUEST_TIMEOUT, ep.post(op, reqid, body))
            .await
            .map_err(|_| format!("no answer within {}s", REQUEST_TIMEOUT.as_secs()))??;
        if status != StatusCode::OK {
            return Err(format!("do http request error code: {}", status.as_u16()));
        }
        decode_response(&bytes)
    }
}

/// Parse a plugin's answer the way frp does: the whole body must be valid JSON for a Response,
/// with the content decoded (case-insensitively) onto an empty content of type `C`.
fn decode_response<C: Content>(body: &[u8]) -> Result<PluginResponse<C>, String> {
    // Errors name only the position: serde's messages can quote values (secrets included).
    let at = |what: &str, e: &serde_json::Error| {
        format!(
            "{what} ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        )
    };
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| at("invalid JSON in response", &e))?;
    if !value.is_object() {
        return Err("response is not a JSON object".into());
    }
    let raw: RawResponse = msg::from_go_json(value, &[]).map_err(|e| at("invalid response", &e))?;
    let content = match raw.content {
        Some(v) => Some(
            msg::from_go_json::<C>(v, CONTENT_NESTED_KEYS)
                .map_err(|e| at("invalid content in response", &e))?,
        ),
        None => None,
    };
    Ok(PluginResponse {
        reject: raw.reject,
        reject_reason: raw.reject_reason,
        unchange: raw.unchange,
        content,
    })
}

impl Endpoint {
    fn parse(url: &str, tls_verify: bool) -> Result<Endpoint, String> {
        let (https, rest) = match url.strip_prefix("https://") {
            Some(r) => (true, r),
            None => (false, url.strip_prefix("http://").unwrap_or(url)),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.contains('@') {
            return Err("user information in the plugin address is not supported".into());
        }
        let (host, port) = split_authority(authority)?;
        let port = port.unwrap_or(if https { 443 } else { 80 });
        let path = path.split('#').next().unwrap_or("");
        let path = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        let tls = if https {
            let roots = tls_verify.then(crate::transport::tls::system_roots);
            if roots.as_ref().is_some_and(|r| r.is_empty()) {
                warn!("no trusted CA certificates found on this system (set SSL_CERT_FILE): https plugin requests with tlsVerify will fail");
            }
            let config =
                crate::transport::tls::http_client_config(roots).map_err(|e| e.to_string())?;
            let name = crate::transport::tls::server_name(&host).map_err(|e| e.to_string())?;
            Some((TlsConnector::from(config), name))
        } else {
            None
        };
        Ok(Endpoint {
            tls,
            host,
            port,
            authority: authority.to_string(),
            path,
        })
    }

    /// POST the body; the status and the (bounded) response body.
    async fn post(
        &self,
        op: &str,
        reqid: &str,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Bytes), String> {
        // frp appends Go's url.Values encoding, which sorts the keys: op before version.
        let sep = if self.path.contains('?') { '&' } else { '?' };
        let target = format!("{}{sep}op={op}&version={API_VERSION}", self.path);
        let req = Request::builder()
            .method(Method::POST)
            .uri(target)
            .header(HOST, &self.authority)
            .header(USER_AGENT, GO_USER_AGENT)
            .header(CONTENT_TYPE, "application/json")
            .header("X-Frp-Reqid", reqid)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("build request: {e}"))?;
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("connect to {}: {e}", self.authority))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => exchange(tcp, req).await,
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| format!("tls handshake with {}: {e}", self.authority))?;
                exchange(tls, req).await
            }
        }
    }
}

/// `host[:port]` or `[v6][:port]`.
fn split_authority(a: &str) -> Result<(String, Option<u16>), String> {
    let bad = || format!("invalid host [{a}]");
    let (host, port) = if let Some(rest) = a.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(bad)?;
        match after {
            "" => (h, None),
            p => (h, Some(p.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        match a.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (a, None),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| format!("invalid port in [{a}]"))?,
        ),
    };
    Ok((host.to_string(), port))
}

/// One HTTP/1.1 request on a fresh connection: status and body (at most
/// [`crate::web::MAX_BODY`] bytes).
async fn exchange<S>(io: S, req: Request<Full<Bytes>>) -> Result<(StatusCode, Bytes), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("http handshake: {e}"))?;
    // The connection task ends once `sender` is dropped (or the peer closes); bounded anyway,
    // so that a peer that never answers cannot keep the socket when the caller gave up.
    tokio::spawn(tokio::time::timeout(REQUEST_TIMEOUT, conn));
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("http request: {e}"))?;
    let status = resp.status();
    let body = Limited::new(resp.into_body(), crate::web::MAX_BODY)
        .collect()
        .await
        .map_err(|e| format!("read response body: {e}"))?
        .to_bytes();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserInfo {
        UserInfo {
            user: "alice".into(),
            metas: StrMap::new(),
            run_id: "a1b2c3d4e5f60718".into(),
        }
    }

    #[test]
    fn new_user_conn_body_matches_the_spec_example() {
        let c = NewUserConnContent {
            user: user(),
            proxy_name: "alice.ssh".into(),
            proxy_type: "tcp".into(),
            remote_addr: "198.51.100.7:40022".into(),
        };
        let body = serde_json::to_string(&PluginRequest {
            version: API_VERSION,
            op: "NewUserConn",
            content: &c,
        })
        .unwrap();
        assert_eq!(
            body,
            r#"{"version":"0.1.0","op":"NewUserConn","content":{"user":{"user":"alice","metas":null,"run_id":"a1b2c3d4e5f60718"},"proxy_name":"alice.ssh","proxy_type":"tcp","remote_addr":"198.51.100.7:40022"}}"#
        );
    }

    #[test]
    fn login_body_matches_the_spec_example() {
        let mut metas = StrMap::new();
        metas.insert("token".into(), "x".into());
        let c = LoginContent {
            login: msg::Login {
                version: "0.65.0".into(),
                os: "linux".into(),
                arch: "amd64".into(),
                user: "alice".into(),
                privilege_key: "3d8aac6cc09d79da303be74c311e5808".into(),
                timestamp: 1700000000,
                metas,
                pool_count: 1,
                ..Default::default()
            },
            client_address: "203.0.113.5:51234".into(),
        };
        let body = serde_json::to_string(&PluginRequest {
            version: API_VERSION,
            op: "Login",
            content: &c,
        })
        .unwrap();
        assert_eq!(
            body,
            r#"{"version":"0.1.0","op":"Login","content":{"version":"0.65.0","os":"linux","arch":"amd64","user":"alice","privilege_key":"3d8aac6cc09d79da303be74c311e5808","timestamp":1700000000,"metas":{"token":"x"},"client_spec":{},"pool_count":1,"client_address":"203.0.113.5:51234"}}"#
        );
    }

    #[test]
    fn new_proxy_and_close_proxy_flatten_the_messages() {
        let c = NewProxyContent {
            user: user(),
            new_proxy: msg::NewProxy {
                proxy_name: "ssh".into(),
                proxy_type: "tcp".into(),
                remote_port: 6000,
                ..Default::default()
            },
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"user":{"user":"alice","metas":null,"run_id":"a1b2c3d4e5f60718"},"proxy_name":"ssh","proxy_type":"tcp","remote_port":6000}"#
        );
        let c = CloseProxyContent {
            user: user(),
            close_proxy: msg::CloseProxy {
                proxy_name: "ssh".into(),
            },
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"user":{"user":"alice","metas":null,"run_id":"a1b2c3d4e5f60718"},"proxy_name":"ssh"}"#
        );
        let c = PingContent {
            user: user(),
            ping: msg::Ping {
                privilege_key: "k".into(),
                timestamp: 5,
            },
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"user":{"user":"alice","metas":null,"run_id":"a1b2c3d4e5f60718"},"privilege_key":"k","timestamp":5}"#
        );
    }

    #[test]
    fn response_content_decodes_case_insensitively_onto_an_empty_content() {
        let r: PluginResponse<NewProxyContent> = decode_response(
            br#"{"Reject":false,"UNCHANGE":false,"content":{"User":{"USER":"bob","metas":{"K":"v"}},"Proxy_Name":"ssh","remote_port":7001,"unknown":1}}"#,
        )
        .unwrap();
        assert!(!r.reject && !r.unchange);
        let c = r.content.unwrap();
        assert_eq!(c.user.user, "bob");
        assert_eq!(c.user.metas.get("K").map(String::as_str), Some("v"));
        assert_eq!(c.new_proxy.proxy_name, "ssh");
        assert_eq!(c.new_proxy.remote_port, 7001);
        assert_eq!(c.new_proxy.proxy_type, "");
    }

    #[test]
    fn bad_responses_are_errors_that_quote_no_values() {
        // `"false"` as a string is not a bool (the upstream doc's example).
        let e = decode_response::<LoginContent>(br#"{"unchange":"false"}"#)
            .err()
            .unwrap();
        assert!(!e.contains("false"), "{e}");
        let e = decode_response::<LoginContent>(
            br#"{"unchange":false,"content":{"privilege_key":["s3cret"]}}"#,
        )
        .err()
        .unwrap();
        assert!(!e.contains("s3cret"), "{e}");
        assert!(decode_response::<LoginContent>(b"[]").is_err());
        assert!(decode_response::<LoginContent>(b"not json").is_err());
        // null content is absent content.
        let r = decode_response::<LoginContent>(br#"{"content":null}"#).unwrap();
        assert!(r.content.is_none());
    }

    #[test]
    fn endpoints() {
        let ep = Endpoint::parse("http://127.0.0.1:9000/handler", false).unwrap();
        assert_eq!((ep.host.as_str(), ep.port), ("127.0.0.1", 9000));
        assert_eq!(ep.authority, "127.0.0.1:9000");
        assert_eq!(ep.path, "/handler");
        assert!(ep.tls.is_none());
        let ep = Endpoint::parse("http://[::1]", false).unwrap();
        assert_eq!(
            (ep.host.as_str(), ep.port, ep.path.as_str()),
            ("::1", 80, "/")
        );
        let ep = Endpoint::parse("https://plugin.example:8443?x=1", false).unwrap();
        assert_eq!((ep.host.as_str(), ep.port), ("plugin.example", 8443));
        assert_eq!(ep.path, "/?x=1");
        assert!(ep.tls.is_some());
        assert!(Endpoint::parse("http://u:p@h/x", false).is_err());
        assert!(Endpoint::parse("http://h:99999/x", false).is_err());
        assert!(Endpoint::parse("http:///x", false).is_err());
        let p = HttpPlugin::new(&HttpPluginOptions {
            name: "a".into(),
            addr: "127.0.0.1:9000".into(),
            path: "/h".into(),
            ops: vec!["Login".into(), "NewUserConn".into()],
            tls_verify: false,
        });
        let ep = p.endpoint.as_ref().unwrap();
        assert_eq!(
            (ep.authority.as_str(), ep.path.as_str()),
            ("127.0.0.1:9000", "/h")
        );
        assert!(ep.tls.is_none());
        assert_eq!(p.ops, vec![Op::Login, Op::NewUserConn]);
    }
}
