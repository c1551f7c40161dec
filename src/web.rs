//! The HTTP plumbing frps's dashboard and frpc's admin API share (apis.md §1): binding, our
//! read-only rule for a server without a password, HTTP basic auth compared in constant time,
//! plain responses, bounded bodies.

use crate::transport::accept::{Accepted, Acceptor};
use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{
    HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONNECTION, CONTENT_TYPE, UPGRADE,
    WWW_AUTHENTICATE,
};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use subtle::ConstantTimeEq;
use tracing::{debug, info, warn};

use crate::config::types::WebServerConfig;

pub type Resp = Response<Full<Bytes>>;

/// Headers that belong to one hop (RFC 9110 §7.6.1), removed by proxies as Go's do.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

/// Remove hop-by-hop headers, including those the Connection header names.
pub fn remove_hop_by_hop(h: &mut HeaderMap) {
    let listed: Vec<HeaderName> = h
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in listed {
        h.remove(n);
    }
    for n in HOP_BY_HOP {
        h.remove(*n);
    }
}

/// The protocol a request asks to upgrade to (`Connection: upgrade` + `Upgrade: x`).
pub fn upgrade_type(h: &HeaderMap) -> Option<HeaderValue> {
    let wants = h
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    if wants {
        h.get(UPGRADE).cloned()
    } else {
        None
    }
}

/// Credentials from an `Authorization`-style value `<scheme> <base64(user:password)>`. Go's
/// BasicAuth wants the scheme `Basic` (any case); frp's http_proxy takes any scheme word.
pub fn basic_credentials(value: &HeaderValue, any_scheme: bool) -> Option<(String, String)> {
    let value = value.to_str().ok()?;
    let (scheme, b64) = value.split_once(' ')?;
    if !any_scheme && !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

/// A TLS client that has not finished its handshake by then is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest request body we read (frpc's `PUT /api/config`).
pub const MAX_BODY: usize = 1 << 20;

/// A web server without a password that listens beyond this host: frp serves it fully, so
/// anyone who reaches the port may reload, stop or rewrite the daemon. We still start (an frp
/// setup that works must not become an outage), but serve it read-only and warn
/// ([`read_only_warning`]); `webServer.allowNoAuth = true` restores full access, without the
/// warning.
pub fn read_only(cfg: &WebServerConfig) -> bool {
    let loopback = match cfg.addr.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => cfg.addr == "localhost",
    };
    !loopback && cfg.password.is_empty() && !cfg.allow_no_auth
}

/// The warning for a [`read_only`] web server (`what`: "dashboard", "admin API"), for the log
/// at start, `verify` and the systemd status.
pub fn read_only_warning(cfg: &WebServerConfig, what: &str) -> Option<String> {
    served_read_only(cfg).then(|| {
        format!(
            "webServer: the {what} on {} has no password, so it is read-only (no changes, reloads or stops, and no reads that hold secrets); set webServer.password, bind it to 127.0.0.1, or set webServer.allowNoAuth = true for full access",
            cfg.addr
        )
    })
}

/// What the systemd `STATUS=` line adds for a [`read_only`] web server.
pub fn status_note(cfg: &WebServerConfig, what: &str) -> String {
    if served_read_only(cfg) {
        format!("; {what} read-only: no password")
    } else {
        String::new()
    }
}

/// A web server that is configured (a port) and [`read_only`].
fn served_read_only(cfg: &WebServerConfig) -> bool {
    cfg.port > 0 && read_only(cfg)
}

/// The answer to a change, or a read that holds a secret, on a [`read_only`] web server:
/// 403 saying how to allow it. `None` when allowed.
pub fn refuse_when_read_only(cfg: &WebServerConfig) -> Option<Resp> {
    read_only(cfg).then(|| {
        text(
            StatusCode::FORBIDDEN,
            "403 Forbidden: this web server has no password and listens beyond this host, so it is read-only. To allow this, set webServer.password (or bind webServer.addr to 127.0.0.1, or set webServer.allowNoAuth = true).\n",
        )
    })
}

/// The banner a [`read_only`] web server's page shows, put where the page has
/// [`READ_ONLY_MARK`].
pub fn with_read_only_banner(page: &str, cfg: &WebServerConfig) -> String {
    let banner = if read_only(cfg) {
        "<div id=\"read-only\" class=\"banner warning\" role=\"alert\">No password is set and this page is reachable beyond this host, so it is read-only. Set <code>webServer.password</code> to manage it from here.</div>"
    } else {
        ""
    };
    page.replacen(READ_ONLY_MARK, banner, 1)
}

/// Where a page wants the read-only banner.
pub const READ_ONLY_MARK: &str = "<!--read-only-banner-->";

/// Connections a web server (dashboard, admin API) keeps open at once: far more than its users
/// need, and a bound on what a flood of idle connections can hold (each has hyper's buffers
/// for up to the 60 s header timeout). Past it, new connections wait in the kernel's queue.
const MAX_CONNECTIONS: usize = 1024;

/// A bound web server: plain HTTP, or HTTPS with `webServer.tls`.
pub struct WebListener {
    listener: Acceptor,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

/// `webServer.tls`'s certificate and key, read: HTTPS, or `None` for plain HTTP.
pub fn tls_acceptor(cfg: &WebServerConfig) -> anyhow::Result<Option<tokio_rustls::TlsAcceptor>> {
    let Some(t) = &cfg.tls else {
        return Ok(None);
    };
    let c = crate::transport::tls::server_config(&t.cert_file, &t.key_file, "")
        .map_err(|e| anyhow::anyhow!("webServer.tls: {e}"))?;
    Ok(Some(tokio_rustls::TlsAcceptor::from(c)))
}

/// Check and bind `webServer.addr:port`.
pub async fn bind(cfg: &WebServerConfig, what: &str) -> anyhow::Result<WebListener> {
    if let Some(w) = read_only_warning(cfg, what) {
        warn!("{w}");
    }
    let tls = tls_acceptor(cfg)?;
    let port = u16::try_from(cfg.port)
        .map_err(|_| anyhow::anyhow!("webServer.port: invalid port {}", cfg.port))?;
    let l = crate::transport::tcp::listen(&cfg.addr, port)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "webServer: listen on {}: {e}",
                crate::transport::tcp::join_host_port(&cfg.addr, port)
            )
        })?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    info!("{what} listen on {scheme}://{}", l.local_addr()?);
    let listener = Acceptor::new(l, what).with_limit(MAX_CONNECTIONS);
    Ok(WebListener { listener, tls })
}

/// Serve HTTP/1.1 on `listener`, one task per connection, until the task is dropped.
pub async fn serve<H, F>(mut listener: WebListener, handler: H)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Resp> + Send + 'static,
{
    loop {
        let Accepted {
            stream,
            peer,
            permit,
        } = listener.listener.accept().await;
        let handler = handler.clone();
        let tls = listener.tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let stream: crate::transport::BoxStream = match tls {
                None => Box::new(stream),
                Some(acceptor) => {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        Ok(Ok(s)) => Box::new(s),
                        Ok(Err(e)) => {
                            debug!(remote = %peer, "web tls handshake: {e}");
                            return;
                        }
                        Err(_) => {
                            debug!(remote = %peer, "web tls handshake timed out");
                            return;
                        }
                    }
                }
            };
            let svc = service_fn(move |req| {
                let fut = handler(req);
                async move { Ok::<_, Infallible>(fut.await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(60))
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                debug!(remote = %peer, "web connection error: {e}");
            }
        });
    }
}

pub fn response(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if !content_type.is_empty() {
        if let Ok(v) = HeaderValue::from_str(content_type) {
            r.headers_mut().insert(CONTENT_TYPE, v);
        }
    }
    r
}

/// A plain-text answer, as frp writes its errors.
pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Resp {
    response(status, "text/plain; charset=utf-8", body)
}

/// Whether the request carries the configured credentials (none configured: everyone).
fn authorized(cfg: &WebServerConfig, req: &Request<Incoming>) -> bool {
    if cfg.user.is_empty() && cfg.password.is_empty() {
        return true;
    }
    let Some(value) = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(b64) = value.strip_prefix("Basic ") else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
        return false;
    };
    let Ok(text) = String::from_utf8(decoded) else {
        return false;
    };
    let (user, pass) = text.split_once(':').unwrap_or((&text, ""));
    let user_ok: bool = user.as_bytes().ct_eq(cfg.user.as_bytes()).into();
    let pass_ok: bool = pass.as_bytes().ct_eq(cfg.password.as_bytes()).into();
    user_ok & pass_ok
}

/// What frp answers before any route (apis.md §1): `/healthz` is open to all, everything else
/// needs the credentials of `cfg`. `None`: go on to the routes.
pub async fn guard(cfg: &WebServerConfig, req: &Request<Incoming>) -> Option<Resp> {
    if req.uri().path() == "/healthz" {
        return Some(response(StatusCode::OK, "", ""));
    }
    if !authorized(cfg, req) {
        return Some(unauthorized().await);
    }
    None
}

/// 401 after frp's 200 ms delay (which slows down password guessing).
async fn unauthorized() -> Resp {
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut r = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
    r.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Restricted\""),
    );
    r
}

/// The request body, at most [`MAX_BODY`] bytes.
pub async fn body(req: Request<Incoming>) -> Result<Bytes, String> {
    Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| e.to_string())
}

/// `301 Moved Permanently` to `to` (frp sends `/` to `/static/`).
pub fn redirect(to: &'static str) -> Resp {
    let mut r = text(StatusCode::MOVED_PERMANENTLY, "");
    r.headers_mut()
        .insert(hyper::header::LOCATION, HeaderValue::from_static(to));
    r
}

pub fn not_found() -> Resp {
    text(StatusCode::NOT_FOUND, "404 page not found\n")
}

pub fn method_not_allowed() -> Resp {
    text(StatusCode::METHOD_NOT_ALLOWED, "")
}
