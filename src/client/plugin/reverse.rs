//! The reverse proxy behind http2http, http2https, https2http and https2https: frp's
//! `httputil.ReverseProxy` with a Rewrite hook, optionally behind TLS on the work connection and
//! in front of a TLS backend (whose certificate is not verified, as frp does).

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONNECTION, COOKIE, FORWARDED, HOST, UPGRADE};
use hyper::{Request, StatusCode, Uri, Version};
use hyper_util::rt::TokioIo;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

use super::http::{self, Resp, Tunnels};
use super::ConnInfo;
use crate::transport::tls::ClientTls;
use crate::transport::BoxStream;

const X_FORWARDED_FOR: &str = "x-forwarded-for";
const X_FORWARDED_HOST: &str = "x-forwarded-host";
const X_FORWARDED_PROTO: &str = "x-forwarded-proto";
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// What happens to the user's `X-Forwarded-*` headers. Go's ReverseProxy with a Rewrite hook
/// drops them (and `Forwarded`); each frp plugin then puts back its own choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XForwarded {
    /// http2http: gone.
    Strip,
    /// http2https: the user's values are kept as they came.
    Keep,
    /// https2http, https2https (`SetXForwarded`): the user's address appended to
    /// X-Forwarded-For, X-Forwarded-Host = the request's host, X-Forwarded-Proto = https.
    Append,
}

pub struct Forward {
    pub local_addr: String,
    /// TLS to the backend (http2https, https2https); certificate not verified.
    pub backend_tls: Option<ClientTls>,
    /// TLS terminated on the work connection (https2http, https2https).
    pub front_tls: Option<TlsAcceptor>,
    pub host_rewrite: Option<HeaderValue>,
    pub set_headers: Vec<(HeaderName, HeaderValue)>,
    pub x_forwarded: XForwarded,
}

impl Forward {
    pub async fn handle(self: Arc<Self>, proxy_name: &str, work: BoxStream, info: ConnInfo) {
        let client_ip = info.src.map(|a| a.ip().to_string());
        let name = proxy_name.to_string();
        let Some(acceptor) = &self.front_tls else {
            let this = self.clone();
            let handler = move |req, tunnels| {
                let this = this.clone();
                let (ip, name) = (client_ip.clone(), name.clone());
                async move { this.forward(&name, req, tunnels, ip.as_deref()).await }
            };
            http::serve(work, false, proxy_name, handler).await;
            return;
        };
        let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(work)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                debug!(proxy_name = %proxy_name, "tls handshake error: {e}");
                return;
            }
            Err(_) => {
                debug!(proxy_name = %proxy_name, "tls handshake timeout");
                return;
            }
        };
        let (_, session) = tls.get_ref();
        let h2 = session.alpn_protocol() == Some(b"h2");
        let sni = session.server_name().map(canonical_host);
        let this = self.clone();
        let handler = move |req: Request<Incoming>, tunnels| {
            let this = this.clone();
            let (ip, name, sni) = (client_ip.clone(), name.clone(), sni.clone());
            async move {
                // frp answers 421 when the request names another host than the TLS SNI.
                if let (Some(sni), Some(host)) = (&sni, request_host(&req)) {
                    let host = host.to_str().map(canonical_host).unwrap_or_default();
                    if !sni.is_empty() && *sni != host {
                        return http::empty(StatusCode::MISDIRECTED_REQUEST);
                    }
                }
                this.forward(&name, req, tunnels, ip.as_deref()).await
            }
        };
        http::serve(tls, h2, proxy_name, handler).await;
    }

    /// Rewrite one request for the backend, send it, and hand back the response.
    async fn forward(
        &self,
        proxy_name: &str,
        mut req: Request<Incoming>,
        tunnels: Tunnels,
        client_ip: Option<&str>,
    ) -> Resp {
        let upgrade = http::upgrade_type(req.headers());
        let server_upgrade = upgrade.as_ref().map(|_| hyper::upgrade::on(&mut req));
        let in_host = request_host(&req);
        let (mut parts, body) = req.into_parts();
        let h = &mut parts.headers;
        http::remove_hop_by_hop(h);
        // HTTP/2 may split Cookie into several fields; HTTP/1.1 wants one (RFC 9113 §8.2.3).
        let cookies: Vec<String> = h
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(String::from))
            .collect();
        if cookies.len() > 1 {
            if let Ok(v) = HeaderValue::from_str(&cookies.join("; ")) {
                h.insert(COOKIE, v);
            }
        }
        if let Some(u) = &upgrade {
            h.insert(CONNECTION, HeaderValue::from_static("upgrade"));
            h.insert(UPGRADE, u.clone());
        }
        h.remove(FORWARDED);
        if self.x_forwarded != XForwarded::Keep {
            let prior: Vec<String> = h
                .get_all(X_FORWARDED_FOR)
                .iter()
                .filter_map(|v| v.to_str().ok().map(String::from))
                .collect();
            for n in [X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO] {
                h.remove(n);
            }
            if self.x_forwarded == XForwarded::Append {
                let chain: Vec<String> = prior
                    .into_iter()
                    .chain(client_ip.map(String::from))
                    .collect();
                if let (false, Ok(v)) = (chain.is_empty(), HeaderValue::from_str(&chain.join(", ")))
                {
                    h.insert(X_FORWARDED_FOR, v);
                }
                if let Some(host) = &in_host {
                    h.insert(X_FORWARDED_HOST, host.clone());
                }
                h.insert(X_FORWARDED_PROTO, HeaderValue::from_static("https"));
            }
        }
        if let Some(host) = self.host_rewrite.clone().or(in_host) {
            h.insert(HOST, host);
        }
        for (name, value) in &self.set_headers {
            h.insert(name.clone(), value.clone());
        }
        parts.uri = parts
            .uri
            .path_and_query()
            .map(|pq| Uri::from(pq.clone()))
            .unwrap_or_else(|| Uri::from_static("/"));
        parts.version = Version::HTTP_11;
        let default_port = if self.backend_tls.is_some() { 443 } else { 80 };
        let req = Request::from_parts(parts, body);
        let mut resp = match http::send(
            &self.local_addr,
            default_port,
            self.backend_tls.as_ref(),
            req,
        )
        .await
        {
            Ok(r) => r,
            Err(e) => {
                warn!(proxy_name = %proxy_name, "http: proxy error: {e}");
                return http::empty(StatusCode::BAD_GATEWAY);
            }
        };
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            if let Some(server_upgrade) = server_upgrade {
                let backend_upgrade = hyper::upgrade::on(&mut resp);
                tunnels.spawn(async move {
                    if let (Ok(user), Ok(backend)) = (server_upgrade.await, backend_upgrade.await) {
                        let (mut user, mut backend) = (TokioIo::new(user), TokioIo::new(backend));
                        let _ = crate::transport::splice::splice(&mut user, &mut backend).await;
                    }
                });
            }
            return http::incoming(resp);
        }
        http::remove_hop_by_hop(resp.headers_mut());
        http::incoming(resp)
    }
}

/// The host a request is for: its Host header, or the authority of an HTTP/2 request.
fn request_host<B>(req: &Request<B>) -> Option<HeaderValue> {
    req.headers().get(HOST).cloned().or_else(|| {
        req.uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    })
}

/// Lower case, without port and trailing dot (frp's CanonicalHost).
fn canonical_host(host: &str) -> String {
    let no_port = match http::split_host_port(host, 0) {
        Ok((h, _)) => h,
        Err(_) => host,
    };
    no_port.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_hosts() {
        assert_eq!(canonical_host("Example.COM:443"), "example.com");
        assert_eq!(canonical_host("example.com."), "example.com");
        assert_eq!(canonical_host("[::1]:8443"), "::1");
    }
}
