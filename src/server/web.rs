//! frps's web server (`webServer.*`): HTTP basic auth and the dashboard API (apis.md §2).
//! This build serves `/healthz` and `GET /api/serverinfo`; other paths answer 404.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tracing::{debug, info};

use super::{lock, Server};
use crate::config::types::WebServerConfig;

/// Refuse an unauthenticated dashboard reachable from other hosts (our safe default; frp
/// allows it). `webServer.allowNoAuth = true` opts out.
pub fn check_safe(cfg: &WebServerConfig) -> Result<(), String> {
    let loopback = match cfg.addr.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => cfg.addr == "localhost",
    };
    if !loopback && cfg.password.is_empty() && !cfg.allow_no_auth {
        return Err(format!(
            "webServer: refusing to serve the dashboard on {} without a password; set webServer.password, bind it to 127.0.0.1, or set webServer.allowNoAuth = true",
            cfg.addr
        ));
    }
    if cfg.tls.is_some() {
        return Err("webServer.tls is not supported by this build yet".into());
    }
    Ok(())
}

pub async fn bind(cfg: &WebServerConfig) -> anyhow::Result<TcpListener> {
    check_safe(cfg).map_err(|e| anyhow::anyhow!(e))?;
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
    info!("dashboard listen on {}", l.local_addr()?);
    Ok(l)
}

pub async fn serve(server: Arc<Server>, listener: TcpListener) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                debug!("dashboard accept error: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let server = server.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(server.clone(), req));
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                debug!(remote = %peer, "dashboard connection error: {e}");
            }
        });
    }
}

type Resp = Response<Full<Bytes>>;

fn response(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(CONTENT_TYPE, v);
    }
    r
}

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

async fn handle(server: Arc<Server>, req: Request<Incoming>) -> Result<Resp, Infallible> {
    if req.uri().path() == "/healthz" {
        return Ok(response(StatusCode::OK, "text/plain", ""));
    }
    if !authorized(&server.cfg.web_server, &req) {
        let mut r = response(
            StatusCode::UNAUTHORIZED,
            "text/plain; charset=utf-8",
            "Unauthorized\n",
        );
        r.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"Restricted\""),
        );
        return Ok(r);
    }
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/api/serverinfo") => {
            let body = serde_json::to_vec(&server_info(&server)).unwrap_or_default();
            response(StatusCode::OK, "application/json", body)
        }
        _ => response(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "404 page not found\n",
        ),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServerInfo {
    version: &'static str,
    bind_port: i64,
    #[serde(rename = "vhostHTTPPort")]
    vhost_http_port: i64,
    #[serde(rename = "vhostHTTPSPort")]
    vhost_https_port: i64,
    #[serde(rename = "tcpmuxHTTPConnectPort")]
    tcpmux_http_connect_port: i64,
    kcp_bind_port: i64,
    quic_bind_port: i64,
    subdomain_host: String,
    max_pool_count: i64,
    max_ports_per_client: i64,
    heartbeat_timeout: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    allow_ports_str: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_force: bool,
    total_traffic_in: u64,
    total_traffic_out: u64,
    cur_conns: i64,
    client_counts: usize,
    proxy_type_count: std::collections::BTreeMap<String, i64>,
}

fn server_info(server: &Server) -> ServerInfo {
    let c = &server.cfg;
    let (traffic_in, traffic_out) = server.stats.traffic_today();
    let allow_ports_str = c
        .allow_ports
        .iter()
        .map(|r| match r.bounds() {
            (a, b) if a == b => a.to_string(),
            (a, b) => format!("{a}-{b}"),
        })
        .collect::<Vec<_>>()
        .join(",");
    ServerInfo {
        version: crate::FRP_PROTOCOL_VERSION,
        bind_port: c.bind_port,
        vhost_http_port: c.vhost_http_port,
        vhost_https_port: c.vhost_https_port,
        tcpmux_http_connect_port: c.tcpmux_http_connect_port,
        kcp_bind_port: c.kcp_bind_port,
        quic_bind_port: c.quic_bind_port,
        subdomain_host: c.sub_domain_host.clone(),
        max_pool_count: c.transport.max_pool_count,
        max_ports_per_client: c.max_ports_per_client,
        heartbeat_timeout: c.heartbeat_timeout(),
        allow_ports_str,
        tls_force: c.transport.tls.force,
        total_traffic_in: traffic_in,
        total_traffic_out: traffic_out,
        cur_conns: server.stats.cur_conns(),
        client_counts: lock(&server.controls).len(),
        proxy_type_count: server.stats.proxy_type_counts(),
    }
}
