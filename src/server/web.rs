//! frps's web server (`webServer.*`): HTTP basic auth and the dashboard API (apis.md §2).
//! This build serves `/healthz` and `GET /api/serverinfo`; other paths answer 404.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde::Serialize;
use tokio::net::TcpListener;

use super::{lock, Server};
use crate::config::types::WebServerConfig;
use crate::web::{self, Resp};

/// Check `webServer.*` and bind the dashboard's port.
pub async fn bind(cfg: &WebServerConfig) -> anyhow::Result<TcpListener> {
    web::bind(cfg, "dashboard").await
}

pub async fn serve(server: Arc<Server>, listener: TcpListener) {
    web::serve(listener, move |req| handle(server.clone(), req)).await
}

async fn handle(server: Arc<Server>, req: Request<Incoming>) -> Resp {
    // Credentials are read per request, so a reload that changes them applies at once.
    if let Some(r) = web::guard(&server.cfg().web_server, &req).await {
        return r;
    }
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/api/serverinfo") => {
            let body = serde_json::to_vec(&server_info(&server)).unwrap_or_default();
            web::response(StatusCode::OK, "application/json", body)
        }
        (&Method::GET, "/") => super::dashboard::redirect_root(),
        (&Method::GET, p) if super::dashboard::is_asset_path(p) => super::dashboard::serve(p),
        _ => web::not_found(),
    }
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
    let c = server.cfg();
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
