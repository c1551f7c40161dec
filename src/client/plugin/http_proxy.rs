//! `http_proxy`: an HTTP forward proxy on the work connection. CONNECT opens a tunnel to
//! `host:port`; other requests must be absolute-form `http://` URLs and are forwarded. With
//! `httpUser`/`httpPassword` set, requests need `Proxy-Authorization` (else 407).

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::ext::ReasonPhrase;
use hyper::header::{HeaderValue, CONNECTION, HOST};
use hyper::{Method, Request, StatusCode, Uri, Version};
use hyper_util::rt::TokioIo;
use tracing::debug;

use super::http::{self, Resp, Tunnels};
use super::Opts;
use crate::transport::{splice, BoxStream};

pub struct HttpProxy {
    user: String,
    password: String,
}

pub(super) fn new(o: &Opts) -> Result<HttpProxy, String> {
    Ok(HttpProxy {
        user: o.string("httpUser")?,
        password: o.string("httpPassword")?,
    })
}

impl HttpProxy {
    pub async fn handle(self: Arc<Self>, proxy_name: &str, work: BoxStream) {
        let name = proxy_name.to_string();
        let handler = move |req, tunnels| {
            let this = self.clone();
            let name = name.clone();
            async move { this.serve(&name, req, tunnels).await }
        };
        http::serve(work, false, proxy_name, handler).await;
    }

    async fn serve(&self, proxy_name: &str, req: Request<Incoming>, tunnels: Tunnels) -> Resp {
        if req.method() == Method::CONNECT {
            return self.connect(proxy_name, req, tunnels).await;
        }
        if !self.authorized(&req).await {
            let mut r = http::empty(StatusCode::PROXY_AUTHENTICATION_REQUIRED);
            r.headers_mut()
                .insert("proxy-authenticate", HeaderValue::from_static("Basic"));
            return r;
        }
        match forward(req).await {
            Ok(r) => r,
            Err(e) => {
                debug!(proxy_name = %proxy_name, "http_proxy: {e}");
                http::error(StatusCode::INTERNAL_SERVER_ERROR, &e)
            }
        }
    }

    /// frp checks credentials only when some are configured; a wrong pair waits 200 ms.
    async fn authorized(&self, req: &Request<Incoming>) -> bool {
        if self.user.is_empty() && self.password.is_empty() {
            return true;
        }
        let Some(got) = req
            .headers()
            .get("proxy-authorization")
            .and_then(|v| http::basic_credentials(v, true))
        else {
            return false;
        };
        if http::credentials_match(&got, &self.user, &self.password) {
            return true;
        }
        tokio::time::sleep(http::AUTH_FAIL_DELAY).await;
        false
    }

    /// CONNECT: 407 (and close) without credentials, 400 when the target cannot be dialed,
    /// else 200 and the tunnel.
    async fn connect(
        &self,
        proxy_name: &str,
        mut req: Request<Incoming>,
        tunnels: Tunnels,
    ) -> Resp {
        if !self.authorized(&req).await {
            let mut r = http::empty(StatusCode::PROXY_AUTHENTICATION_REQUIRED);
            r.extensions_mut()
                .insert(ReasonPhrase::from_static(b"Not authorized"));
            r.headers_mut()
                .insert("proxy-authenticate", HeaderValue::from_static("Basic"));
            r.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
        let target = req
            .uri()
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let mut remote = match http::dial(&target, 0).await {
            Ok(s) => s,
            Err(e) => {
                debug!(proxy_name = %proxy_name, "http_proxy CONNECT: {e}");
                return http::empty(StatusCode::BAD_REQUEST);
            }
        };
        let upgrade = hyper::upgrade::on(&mut req);
        tunnels.spawn(async move {
            if let Ok(user) = upgrade.await {
                let _ = splice::splice(&mut TokioIo::new(user), &mut remote).await;
            }
        });
        http::empty(StatusCode::OK)
    }
}

/// Forward an absolute-form request to its origin server and hand back the answer.
async fn forward(req: Request<Incoming>) -> Result<Resp, String> {
    let (mut parts, body) = req.into_parts();
    let uri = parts.uri.clone();
    match uri.scheme_str() {
        Some("http") => {}
        other => {
            return Err(format!(
                "unsupported protocol scheme \"{}\"",
                other.unwrap_or("")
            ))
        }
    }
    let host = uri
        .host()
        .ok_or_else(|| "http: no Host in request URL".to_string())?;
    // Without any user:password@ part.
    let addr = match uri.port_u16() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    http::remove_hop_by_hop(&mut parts.headers);
    // An absolute-form target overrides any Host header (RFC 9112 §3.2.2), as in Go.
    let host = HeaderValue::from_str(&addr).map_err(|e| e.to_string())?;
    parts.headers.insert(HOST, host);
    parts.uri = uri
        .path_and_query()
        .map(|pq| Uri::from(pq.clone()))
        .unwrap_or_else(|| Uri::from_static("/"));
    parts.version = Version::HTTP_11;
    let mut resp = http::send(&addr, 80, None, Request::from_parts(parts, body)).await?;
    http::remove_hop_by_hop(resp.headers_mut());
    Ok(http::incoming(resp))
}
