//! One plugin's address (`addr` + `path`, http or https) and the POST of an operation to it,
//! over a fresh connection each time, as Go's default HTTP client would send it.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tracing::warn;

use super::content::API_VERSION;

/// How long one plugin request may take, connect to last body byte. frp sets no limit (Go's
/// default client), so a plugin that never answers would hold that client's login or control
/// loop, or a user connection, for ever; 30 s is far above any sane plugin's latency and below
/// frp's and our frpc's patience for a NewProxyResp or a user's for a connection.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What frps's Go HTTP client sends; kept so plugins see the same request from either frps.
const GO_USER_AGENT: &str = "Go-http-client/1.1";

/// The parsed `addr + path` of one plugin.
pub(super) struct Endpoint {
    /// `Some` for `https://`: the TLS client and the name to verify.
    pub(super) tls: Option<(TlsConnector, rustls::pki_types::ServerName<'static>)>,
    /// Host (brackets removed) and port to connect to.
    pub(super) host: String,
    pub(super) port: u16,
    /// The `Host` header: the authority as written.
    pub(super) authority: String,
    /// Path (with any query of its own), to which `op` and `version` are appended.
    pub(super) path: String,
}

impl Endpoint {
    pub(super) fn parse(url: &str, tls_verify: bool) -> Result<Endpoint, String> {
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
    pub(super) async fn post(
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
