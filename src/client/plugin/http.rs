//! HTTP pieces the http plugins share: serving one work connection with hyper (HTTP/1.1, or
//! HTTP/2 after ALPN), one-shot client connections to a backend, hop-by-hop headers, basic auth,
//! and tunnels (CONNECT, Upgrade) that outlive the HTTP exchange which opened them.

pub use crate::web::{basic_credentials, remove_hop_by_hop, upgrade_type};
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::debug;

use crate::transport::tls::ClientTls;
use crate::transport::{tcp, BoxStream};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Body = BoxBody<Bytes, BoxError>;
pub type Resp = Response<Body>;

/// frp's http servers give up on a request head after 60 s (ReadHeaderTimeout).
pub const READ_HEADER_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest request head we buffer (HTTP/1.1 read buffer, HTTP/2 header list).
const MAX_HEAD: usize = 256 * 1024;
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Delay before answering wrong credentials (frp's 200 ms, slows down guessing).
pub const AUTH_FAIL_DELAY: Duration = Duration::from_millis(200);

/// Tasks an HTTP exchange left running (a CONNECT tunnel, an upgraded connection): the work
/// connection is served until they end too, so frpc's count of live connections stays right.
#[derive(Clone)]
pub struct Tunnels(mpsc::UnboundedSender<JoinHandle<()>>);

impl Tunnels {
    pub fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) {
        let _ = self.0.send(tokio::spawn(fut));
    }
}

/// Serve HTTP on one stream until the peer is done (and any tunnel it opened has closed).
pub async fn serve<I, H, F>(io: I, h2: bool, proxy_name: &str, handler: H)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>, Tunnels) -> F + Send + Sync + Clone + 'static,
    F: Future<Output = Resp> + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel();
    let tunnels = Tunnels(tx);
    let svc = service_fn(move |req| {
        let fut = handler(req, tunnels.clone());
        async move { Ok::<_, Infallible>(fut.await) }
    });
    let io = TokioIo::new(io);
    let result = if h2 {
        hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .max_header_list_size(MAX_HEAD as u32)
            .serve_connection(io, svc)
            .await
    } else {
        hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(READ_HEADER_TIMEOUT)
            .max_buf_size(MAX_HEAD)
            .serve_connection(io, svc)
            .with_upgrades()
            .await
    };
    if let Err(e) = result {
        debug!(proxy_name = %proxy_name, "plugin http connection: {e}");
    }
    while let Some(t) = rx.recv().await {
        let _ = t.await;
    }
}

/// Send one request on a new connection to `addr` (`host:port`; `default_port` when there is
/// no port), over TLS when `tls` is given. HTTP/1.1, as Go's transport with a custom TLS config.
pub async fn send<B>(
    addr: &str,
    default_port: u16,
    tls: Option<&ClientTls>,
    req: Request<B>,
) -> Result<Response<Incoming>, String>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let tcp = dial(addr, default_port).await?;
    let stream: BoxStream = match tls {
        None => Box::new(tcp),
        Some(t) => {
            let connector = tokio_rustls::TlsConnector::from(t.config.clone());
            let s =
                tokio::time::timeout(DIAL_TIMEOUT, connector.connect(t.server_name.clone(), tcp))
                    .await
                    .map_err(|_| format!("tls handshake with {addr}: timeout"))?
                    .map_err(|e| format!("tls handshake with {addr}: {e}"))?;
            Box::new(s)
        }
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    // The connection task ends by itself once the response (or the upgraded stream) is done.
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    sender.send_request(req).await.map_err(|e| e.to_string())
}

/// Dial `host:port` (brackets around IPv6 literals allowed).
pub async fn dial(addr: &str, default_port: u16) -> Result<tokio::net::TcpStream, String> {
    let (host, port) = split_host_port(addr, default_port)?;
    tcp::dial(host, port, DIAL_TIMEOUT, None, 7200)
        .await
        .map_err(|e| format!("dial tcp {addr}: {e}"))
}

/// `host:port` → (host, port); no port → `default_port`.
pub fn split_host_port(addr: &str, default_port: u16) -> Result<(&str, u16), String> {
    let bad = || format!("invalid address '{addr}'");
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        match after.strip_prefix(':') {
            Some(p) => (host, Some(p)),
            None if after.is_empty() => (host, None),
            None => return Err(bad()),
        }
    } else {
        match addr.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => (addr, None), // a bare IPv6 literal
            Some((h, p)) => (h, Some(p)),
            None => (addr, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().map_err(|_| bad())?,
        None => default_port,
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host, port))
}

/// Both compared in constant time.
pub fn credentials_match(got: &(String, String), user: &str, password: &str) -> bool {
    let u: bool = got.0.as_bytes().ct_eq(user.as_bytes()).into();
    let p: bool = got.1.as_bytes().ct_eq(password.as_bytes()).into();
    u & p
}

pub fn boxed<B>(body: B) -> Body
where
    B: hyper::body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed()
}

pub fn incoming(resp: Response<Incoming>) -> Resp {
    resp.map(boxed)
}

pub fn empty(status: StatusCode) -> Resp {
    let mut r = Response::new(boxed(Empty::<Bytes>::new()));
    *r.status_mut() = status;
    r
}

pub fn with_body(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(boxed(Full::new(body.into())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// Go's `http.Error`: the message and a newline as plain text.
pub fn error(status: StatusCode, msg: &str) -> Resp {
    let mut r = with_body(status, "text/plain; charset=utf-8", format!("{msg}\n"));
    r.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::{HeaderMap, CONNECTION};

    #[test]
    fn host_port_splitting() {
        assert_eq!(split_host_port("127.0.0.1:80", 1), Ok(("127.0.0.1", 80)));
        assert_eq!(
            split_host_port("example.com", 443),
            Ok(("example.com", 443))
        );
        assert_eq!(split_host_port("[::1]:8443", 1), Ok(("::1", 8443)));
        assert_eq!(split_host_port("[::1]", 1), Ok(("::1", 1)));
        assert_eq!(split_host_port("::1", 7), Ok(("::1", 7)));
        assert!(split_host_port(":80", 1).is_err());
        assert!(split_host_port("h:x", 1).is_err());
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_go() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, X-Secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn basic_auth_parsing() {
        let v = HeaderValue::from_static("Basic dTpwOmFzcw=="); // u:p:ass
        assert_eq!(
            basic_credentials(&v, false),
            Some(("u".into(), "p:ass".into()))
        );
        let other = HeaderValue::from_static("Bearer dTpw");
        assert_eq!(basic_credentials(&other, false), None);
        assert_eq!(
            basic_credentials(&other, true),
            Some(("u".into(), "p".into()))
        );
        assert!(credentials_match(&("u".into(), "p".into()), "u", "p"));
        assert!(!credentials_match(&("u".into(), "p".into()), "u", "q"));
    }
}
