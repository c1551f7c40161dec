//! http proxies (protocol.md §10.3): frps's reverse proxy on `vhostHTTPPort`. Each request is
//! routed on its host, path and basic-auth user (§9), checked against the route's credentials,
//! rewritten (Host, X-Forwarded-*, configured headers) and sent over a work connection of the
//! proxy's client, which keeps serving later requests (keep-alive pool per proxy). Upgrades
//! (WebSocket) and CONNECT become byte tunnels once the backend agrees.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri, Version};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tracing::{debug, info, warn};

use super::{
    add_routes, build_domains, canonical_addr, not_found_body, router::canonical_host,
    Registration, Route, RouteKey, RouteSettings,
};
use crate::proto::msg;
use crate::server::proxy::running::RunningProxy;
use crate::server::proxy::target::Target;
use crate::server::stats::{MeteredStream, OpenConn};
use crate::server::{lock, Server};
use crate::transport::AsyncStream;
use crate::web::{remove_hop_by_hop, upgrade_type};

type RespBody = BoxBody<Bytes, hyper::Error>;

/// Idle work connections kept per proxy, and how long one may stay idle. Go's transport keeps
/// 5 (MaxIdleConnsPerHost), so more concurrent clients than that make it open and close work
/// connections all the time; 32 covers busy sites and still bounds what an idle proxy holds.
const MAX_IDLE: usize = 128;
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// One proxy serving an http route: its target and its idle keep-alive connections.
pub struct Backend {
    target: Arc<Target>,
    idle: Mutex<Vec<(SendRequest<RespBody>, Instant)>>,
}

pub fn register(
    server: &Arc<Server>,
    target: &Arc<Target>,
    p: &msg::NewProxy,
) -> Result<(String, RunningProxy), String> {
    let cfg = server.cfg();
    if cfg.vhost_http_port == 0 {
        return Err("type [http] not supported when vhost http port is not set".into());
    }
    let domains = build_domains(&p.custom_domains, &p.subdomain, &cfg.sub_domain_host)?;
    let locations = if p.locations.is_empty() {
        vec![String::new()]
    } else {
        p.locations.clone()
    };
    let reg = Registration {
        proxy_name: &p.proxy_name,
        group: &p.group,
        group_key: &p.group_key,
        settings: RouteSettings {
            http_user: p.http_user.clone(),
            http_pwd: p.http_pwd.clone(),
            host_header_rewrite: p.host_header_rewrite.clone(),
            request_headers: p.headers.clone().into_iter().collect(),
            response_headers: p.response_headers.clone().into_iter().collect(),
        },
    };
    let backend = Arc::new(Backend {
        target: target.clone(),
        idle: Mutex::new(Vec::new()),
    });
    let mut running = RunningProxy::new("http", None, target.ctl.cancel.child_token());
    let mut keys = Vec::new();
    for domain in &domains {
        for location in &locations {
            keys.push(RouteKey {
                domain: domain.clone(),
                location: location.clone(),
                user: p.route_by_http_user.clone(),
            });
        }
    }
    add_routes(
        server,
        |s| &s.vhost.http,
        &keys,
        &reg,
        &backend,
        &mut running,
    )?;
    for k in &keys {
        info!(client = %target.ctl.tag, proxy_name = %p.proxy_name, proxy_type = "http",
            "http proxy listen for host [{}] location [{}] group [{}], routeByHTTPUser [{}]",
            k.domain, k.location, p.group, p.route_by_http_user);
    }
    let addrs: Vec<String> = keys
        .iter()
        .map(|k| canonical_addr(&k.domain, cfg.vhost_http_port))
        .collect();
    // Idle keep-alive connections belong to this registration; drop them with it, and close
    // those idle for longer than IDLE_TIMEOUT meanwhile.
    let b = backend.clone();
    running.on_close(move || lock(&b.idle).clear());
    let (b, cancel) = (backend.clone(), running.cancel_token());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(IDLE_TIMEOUT / 4);
        loop {
            tokio::select! {
                _ = tick.tick() => lock(&b.idle).retain(|(s, since)| since.elapsed() < IDLE_TIMEOUT && !s.is_closed()),
                _ = cancel.cancelled() => return,
            }
        }
    });
    Ok((addrs.join(","), running))
}

/// Serve HTTP/1.1 (and h2c with prior knowledge) on one user connection.
pub async fn serve_conn<S: AsyncStream + 'static>(server: Arc<Server>, conn: S, peer: SocketAddr) {
    let svc = hyper::service::service_fn(move |req| {
        let server = server.clone();
        async move { Ok::<_, Infallible>(handle(server, req, peer).await) }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    if let Err(e) = builder
        .serve_connection_with_upgrades(TokioIo::new(conn), svc)
        .await
    {
        debug!(remote = %peer, "vhost http connection ended: {e}");
    }
}

fn full(status: StatusCode, body: impl Into<Bytes>) -> Response<RespBody> {
    let mut r = Response::new(
        Full::new(body.into())
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r
}

async fn not_found(server: &Server, connect: bool) -> Response<RespBody> {
    let mut r = full(
        StatusCode::NOT_FOUND,
        not_found_body(&server.cfg().custom_404_page).await,
    );
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if connect {
            "text/html"
        } else {
            "text/html; charset=utf-8"
        }),
    );
    if connect {
        if let Ok(v) = HeaderValue::from_str(&format!("frp/{}", crate::FRP_PROTOCOL_VERSION)) {
            h.insert(header::SERVER, v);
        }
    }
    r
}

fn unauthorized() -> Response<RespBody> {
    let mut r = full(StatusCode::UNAUTHORIZED, "Unauthorized\n");
    let h = r.headers_mut();
    h.insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Restricted\""),
    );
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// 407 for a proxy-style request without the route's credentials in Proxy-Authorization.
fn proxy_auth_required() -> Response<RespBody> {
    let mut r = full(
        StatusCode::PROXY_AUTHENTICATION_REQUIRED,
        "Proxy Authentication Required\n",
    );
    let h = r.headers_mut();
    h.insert(
        header::PROXY_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Restricted\""),
    );
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// 400, closing the connection, as Go's net/http answers a request it cannot read.
fn bad_request(why: &str) -> Response<RespBody> {
    let mut r = full(StatusCode::BAD_REQUEST, format!("400 Bad Request: {why}"));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// The user a request is routed by (`routeByHTTPUser`): a proxy-style request's
/// Proxy-Authorization user (none if that header does not parse), or its Authorization user
/// when it has no Proxy-Authorization (so it still finds its route and gets a 407, not a 404);
/// an origin-form request's Authorization user.
fn route_user(headers: &HeaderMap, absolute: bool) -> String {
    if absolute && headers.contains_key(header::PROXY_AUTHORIZATION) {
        return basic_auth(headers, header::PROXY_AUTHORIZATION)
            .map(|(u, _)| u)
            .unwrap_or_default();
    }
    basic_auth(headers, header::AUTHORIZATION)
        .map(|(u, _)| u)
        .unwrap_or_default()
}

fn basic_auth(headers: &HeaderMap, name: HeaderName) -> Option<(String, String)> {
    headers
        .get(name)
        .and_then(|v| crate::web::basic_credentials(v, false))
}

async fn handle(
    server: Arc<Server>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<RespBody> {
    // An absolute-form HTTP/1 request (proxy style) and every h2 request carry the host in the
    // URI, which then wins over a Host header (as Go's net/http has it).
    let absolute = req.version() <= Version::HTTP_11 && req.uri().authority().is_some();
    let host_raw = req
        .uri()
        .authority()
        // Never user:pass@ (it is not part of the host and must not be copied into headers).
        .map(|a| a.as_str().rsplit('@').next().unwrap_or("").to_string())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default();
    // Two Host headers: which one routes? Refused, as Go's net/http and RFC 9112 §3.2 do.
    if req.headers().get_all(header::HOST).iter().nth(1).is_some() {
        return bad_request("too many Host headers");
    }
    let host = canonical_host(&host_raw);
    let path = req.uri().path().to_string();
    let connect = req.method() == Method::CONNECT;
    let route_user = route_user(req.headers(), absolute);
    let found = server.vhost.http.lookup(&host, &path, &route_user);
    // The route's credentials, as frp v0.68.1 checks them (its fix of an auth bypass with
    // routeByHTTPUser): a proxy-style request proves itself with Proxy-Authorization only and
    // is refused with 407, an origin-form one with Authorization only and 401. The header
    // that chose the route never stands in for the other.
    if let Some(route) = &found {
        let proof = if absolute {
            header::PROXY_AUTHORIZATION
        } else {
            header::AUTHORIZATION
        };
        let (user, pwd) = basic_auth(req.headers(), proof).unwrap_or_default();
        if !route.auth_ok(&user, &pwd) {
            return if absolute {
                proxy_auth_required()
            } else {
                unauthorized()
            };
        }
    }
    let Some(route) = found else {
        debug!(remote = %peer, "http request for host [{host}] path [{path}] httpUser [{route_user}] not found");
        return not_found(&server, connect).await;
    };
    let Some(backend) = route.pick() else {
        return not_found(&server, connect).await;
    };
    match forward(&server, &route, &backend, req, &host_raw, absolute, peer).await {
        Ok(r) => r,
        Err(Failure::Timeout) => {
            warn!(proxy_name = %backend.target.name, "http request [host: {host}] got no response within {}s", vhost_timeout(&server).as_secs());
            full(StatusCode::GATEWAY_TIMEOUT, Bytes::new())
        }
        Err(Failure::Other(e)) => {
            warn!(proxy_name = %backend.target.name, "do http proxy request [host: {host}] error: {e}");
            not_found(&server, connect).await
        }
    }
}

enum Failure {
    Timeout,
    Other(String),
}

fn vhost_timeout(server: &Server) -> Duration {
    let t = server.cfg().vhost_http_timeout;
    Duration::from_secs(if t <= 0 { 60 } else { t as u64 })
}

fn set_header(h: &mut HeaderMap, name: &str, value: &str) {
    match (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        (Ok(n), Ok(v)) => {
            h.insert(n, v);
        }
        _ => debug!("skipping invalid header {name:?}"),
    }
}

async fn forward(
    server: &Arc<Server>,
    route: &Route<Backend>,
    backend: &Arc<Backend>,
    mut req: Request<Incoming>,
    host_raw: &str,
    absolute: bool,
    peer: SocketAddr,
) -> Result<Response<RespBody>, Failure> {
    let settings = &route.settings;
    let connect = req.method() == Method::CONNECT;
    let upgrade = upgrade_type(req.headers());
    let user_upgrade = (upgrade.is_some() || connect).then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();

    let h = &mut parts.headers;
    if connect {
        // frp writes a CONNECT to the backend as it came (a proxy plugin behind it needs its
        // Proxy-Authorization): no rewriting.
        parts.version = Version::HTTP_11;
        return send(
            server,
            backend,
            Request::from_parts(parts, body.boxed()),
            user_upgrade,
            connect,
            settings,
            peer,
        )
        .await;
    }
    // Go's ReverseProxy drops a client's `Forwarded` and writes X-Forwarded-* instead.
    h.remove(header::FORWARDED);
    let prior_xff: Vec<String> = h
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    remove_hop_by_hop(h);
    if let Some(u) = &upgrade {
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, u.clone());
    }
    let mut xff = prior_xff.join(", ");
    if !xff.is_empty() {
        xff.push_str(", ");
    }
    xff.push_str(&peer.ip().to_string());
    set_header(h, "x-forwarded-for", &xff);
    set_header(h, "x-forwarded-host", host_raw);
    set_header(h, "x-forwarded-proto", "http");
    let out_host = if settings.host_header_rewrite.is_empty() {
        host_raw
    } else {
        settings.host_header_rewrite.as_str()
    };
    set_header(h, "host", out_host);
    for (k, v) in &settings.request_headers {
        set_header(h, k, v);
    }
    // Towards frpc it is always HTTP/1.1; origin-form unless the user sent a proxy request.
    parts.version = Version::HTTP_11;
    if !absolute && !connect {
        let pq = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        parts.uri = pq
            .parse::<Uri>()
            .map_err(|e| Failure::Other(e.to_string()))?;
    }
    let out = Request::from_parts(parts, body.boxed());
    send(server, backend, out, user_upgrade, connect, settings, peer).await
}

/// Send the rewritten request and turn the backend's answer into the user's response (or a
/// tunnel, for an accepted upgrade or CONNECT).
async fn send(
    server: &Arc<Server>,
    backend: &Arc<Backend>,
    out: Request<RespBody>,
    user_upgrade: Option<hyper::upgrade::OnUpgrade>,
    connect: bool,
    settings: &RouteSettings,
    peer: SocketAddr,
) -> Result<Response<RespBody>, Failure> {
    // Tunnels get a connection of their own; plain requests reuse idle ones.
    let tunnel = user_upgrade.is_some();
    let (mut sender, mut guard, reused) = backend.sender(peer, !tunnel).await?;
    let timeout = vhost_timeout(server);
    let mut attempt = tokio::time::timeout(timeout, sender.try_send_request(out)).await;
    if reused {
        // An idle connection the backend closed just now fails before anything was written:
        // send the request again on a new one (Go's transport does the same).
        if let Ok(Err(e)) = &mut attempt {
            if let Some(again) = e.take_message() {
                debug!(proxy_name = %backend.target.name, "idle work connection was closed, retrying: {}", e.error());
                (sender, guard, _) = backend.sender(peer, false).await?;
                attempt = tokio::time::timeout(timeout, sender.try_send_request(again)).await;
            }
        }
    }
    let resp = match attempt {
        Err(_) => return Err(Failure::Timeout),
        Ok(Err(e)) => return Err(Failure::Other(e.into_error().to_string())),
        Ok(Ok(r)) => r,
    };
    if !tunnel {
        backend.release(sender);
    }
    let mut resp = resp;
    let switching =
        resp.status() == StatusCode::SWITCHING_PROTOCOLS || (connect && resp.status().is_success());
    let work_upgrade = switching.then(|| hyper::upgrade::on(&mut resp));
    let (mut parts, body) = resp.into_parts();
    if !switching {
        remove_hop_by_hop(&mut parts.headers);
    }
    for (k, v) in &settings.response_headers {
        set_header(&mut parts.headers, k, v);
    }
    if let (Some(user_upgrade), Some(work_upgrade)) = (user_upgrade, work_upgrade) {
        {
            let name = backend.target.name.clone();
            tokio::spawn(async move {
                let _guard = guard;
                match tokio::try_join!(user_upgrade, work_upgrade) {
                    Ok((user, work)) => {
                        let (mut user, mut work) = (TokioIo::new(user), TokioIo::new(work));
                        let r = crate::transport::splice::splice(&mut user, &mut work).await;
                        debug!(proxy_name = %name, "http tunnel closed: {r:?}");
                    }
                    Err(e) => debug!(proxy_name = %name, "http upgrade failed: {e}"),
                }
            });
            return Ok(Response::from_parts(
                parts,
                Empty::new().map_err(|never| match never {}).boxed(),
            ));
        }
    }
    Ok(Response::from_parts(
        parts,
        Guarded {
            inner: body,
            _guard: guard,
        }
        .boxed(),
    ))
}

/// A response body that holds its request's count as an open connection (of frps, the
/// client and the proxy; the graceful stop waits for it) until it has been sent.
struct Guarded {
    inner: Incoming,
    _guard: OpenConn,
}

impl Body for Guarded {
    type Data = Bytes;
    type Error = hyper::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Backend {
    /// A connection ready for a request: an idle one when `reuse`, else a new work connection.
    async fn sender(
        &self,
        peer: SocketAddr,
        reuse: bool,
    ) -> Result<(SendRequest<RespBody>, OpenConn, bool), Failure> {
        if reuse {
            let mut idle = lock(&self.idle);
            while let Some((s, since)) = idle.pop() {
                if since.elapsed() < IDLE_TIMEOUT && s.is_ready() {
                    return Ok((s, self.target.meter.open(), true));
                }
            }
        }
        let work = self
            .target
            .connect(Some(peer), None)
            .await
            .map_err(Failure::Other)?;
        let (sender, conn) = hyper::client::conn::http1::Builder::new()
            .title_case_headers(true)
            .handshake(TokioIo::new(MeteredStream::new(work, &self.target.meter)))
            .await
            .map_err(|e| Failure::Other(e.to_string()))?;
        let session = self.target.ctl.cancel.clone();
        let name = self.target.name.clone();
        tokio::spawn(async move {
            tokio::select! {
                r = conn.with_upgrades() => {
                    if let Err(e) = r {
                        debug!(proxy_name = %name, "http work connection ended: {e}");
                    }
                }
                _ = session.cancelled() => {}
            }
        });
        Ok((sender, self.target.meter.open(), false))
    }

    /// Put a connection back once it can take another request (its response fully read).
    fn release(self: &Arc<Self>, mut sender: SendRequest<RespBody>) {
        let me = self.clone();
        tokio::spawn(async move {
            if sender.ready().await.is_ok() {
                let mut idle = lock(&me.idle);
                idle.retain(|(s, since)| since.elapsed() < IDLE_TIMEOUT && !s.is_closed());
                if idle.len() < MAX_IDLE {
                    idle.push((sender, Instant::now()));
                }
            }
        });
    }
}

#[cfg(test)]
mod tests;
