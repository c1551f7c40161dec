//! frps's web server (`webServer.*`): the dashboard API of frp v0.65.0 (apis.md §2) behind
//! HTTP basic auth, our `/api/clients`, and Prometheus `/metrics` (apis.md §3).

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde::Serialize;
use tracing::{debug, info};

use super::proxy_conf::ProxyConf;
use super::stats::{format_time, ProxySnapshot, HISTORY_DAYS};
use super::{lock, Server};
use crate::config::types::WebServerConfig;
use crate::web::{self, Resp, WebListener};

/// Check `webServer.*` and bind the dashboard's port.
pub async fn bind(cfg: &WebServerConfig) -> anyhow::Result<WebListener> {
    web::bind(cfg, "dashboard").await
}

pub async fn serve(server: Arc<Server>, listener: WebListener) {
    web::serve(listener, move |req| handle(server.clone(), req)).await
}

async fn handle(server: Arc<Server>, req: Request<Incoming>) -> Resp {
    // Credentials are read per request, so a reload that changes them applies at once.
    if let Some(r) = web::guard(&server.cfg().web_server, &req).await {
        return r;
    }
    let path = req.uri().path().to_string();
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let get = req.method() == Method::GET;
    debug!("dashboard request: {} {path}", req.method());
    match segs.as_slice() {
        ["api", "serverinfo"] if get => json(&server_info(&server)),
        ["api", "proxy", kind] if get => json(&proxies_by_type(&server, kind)),
        ["api", "proxy", kind, name] if get => proxy_by_name(&server, kind, name),
        ["api", "traffic", name] if get => traffic(&server, name),
        ["api", "proxies"] if req.method() == Method::DELETE => {
            match web::refuse_when_read_only(&server.cfg().web_server) {
                Some(refused) => refused,
                None => delete_proxies(&server, &req),
            }
        }
        ["api", "clients"] if get => json(&clients(&server)),
        ["metrics"] if server.cfg().enable_prometheus => {
            if get {
                let body = super::metrics::render(&server);
                web::response(StatusCode::OK, super::metrics::CONTENT_TYPE, body)
            } else {
                web::method_not_allowed()
            }
        }
        ["api", "serverinfo" | "clients" | "proxies"]
        | ["api", "proxy", _]
        | ["api", "proxy", _, _]
        | ["api", "traffic", _] => web::method_not_allowed(),
        [""] if get => super::dashboard::redirect_root(),
        _ if get && super::dashboard::is_asset_path(&path) => {
            super::dashboard::serve(&path, &server.cfg().web_server)
        }
        _ => web::not_found(),
    }
}

fn json<T: Serialize>(v: &T) -> Resp {
    match serde_json::to_vec(v) {
        Ok(body) => web::response(StatusCode::OK, "application/json", body),
        Err(e) => web::text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `%XX` escapes of one path segment (gorilla/mux matches the decoded path).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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

/// One entry of `GET /api/proxy/{type}` (and, without `clientVersion`, of the one-proxy path).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProxyInfo {
    name: String,
    conf: Option<ProxyConf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_version: Option<String>,
    today_traffic_in: u64,
    today_traffic_out: u64,
    cur_conns: i64,
    last_start_time: String,
    last_close_time: String,
    status: &'static str,
}

impl ProxyInfo {
    fn new(s: ProxySnapshot, with_version: bool) -> ProxyInfo {
        ProxyInfo {
            name: s.name,
            conf: s.conf,
            client_version: (with_version && !s.client_version.is_empty())
                .then_some(s.client_version),
            today_traffic_in: s.today_in,
            today_traffic_out: s.today_out,
            cur_conns: s.cur_conns,
            last_start_time: s.last_start,
            last_close_time: s.last_close,
            status: if s.online { "online" } else { "offline" },
        }
    }
}

#[derive(Serialize)]
struct ProxyList {
    proxies: Vec<ProxyInfo>,
}

fn proxies_by_type(server: &Server, kind: &str) -> ProxyList {
    let proxies = server
        .stats
        .proxies()
        .iter()
        .map(|p| p.snapshot())
        .filter(|s| s.kind == kind)
        .map(|s| ProxyInfo::new(s, true))
        .collect();
    ProxyList { proxies }
}

fn proxy_by_name(server: &Server, kind: &str, name: &str) -> Resp {
    match server.stats.proxy(name).map(|p| p.snapshot()) {
        Some(s) if s.kind == kind => json(&ProxyInfo::new(s, false)),
        _ => web::text(StatusCode::NOT_FOUND, "no proxy info found"),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Traffic {
    name: String,
    traffic_in: [u64; HISTORY_DAYS],
    traffic_out: [u64; HISTORY_DAYS],
}

fn traffic(server: &Server, name: &str) -> Resp {
    match server.stats.proxy(name) {
        Some(p) => {
            let (traffic_in, traffic_out) = p.counters.history();
            json(&Traffic {
                name: name.to_string(),
                traffic_in,
                traffic_out,
            })
        }
        None => web::text(StatusCode::NOT_FOUND, "no proxy info found"),
    }
}

fn delete_proxies(server: &Server, req: &Request<Incoming>) -> Resp {
    let offline = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("status="))
        == Some("offline");
    if !offline {
        return web::text(StatusCode::BAD_REQUEST, "status only support offline");
    }
    let (cleared, total) = server.stats.clear_offline();
    info!("cleared [{cleared}] offline proxies, total [{total}] proxies");
    web::response(StatusCode::OK, "", "")
}

/// One logged-in client in `GET /api/clients` (our addition; frp v0.65.0 has no such path).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClientEntry {
    /// The session's tag ([`crate::client_tag`]); the run id itself is never shown: with it,
    /// anyone reading the dashboard could once pass for the client.
    id: String,
    user: String,
    hostname: String,
    os: String,
    arch: String,
    version: String,
    client_address: String,
    login_time: String,
    proxy_count: usize,
    today_traffic_in: u64,
    today_traffic_out: u64,
    cur_conns: i64,
}

#[derive(Serialize)]
struct ClientList {
    clients: Vec<ClientEntry>,
}

fn clients(server: &Server) -> ClientList {
    let controls: Vec<_> = lock(&server.controls).values().cloned().collect();
    let mut clients: Vec<ClientEntry> = controls
        .iter()
        .map(|c| {
            let (today_in, today_out) = c.counters.today();
            ClientEntry {
                id: c.tag.clone(),
                user: c.user.clone(),
                hostname: c.info.hostname.clone(),
                os: c.info.os.clone(),
                arch: c.info.arch.clone(),
                version: c.info.version.clone(),
                client_address: c.info.address.to_string(),
                login_time: format_time(c.info.login_time),
                proxy_count: c.proxy_count(),
                today_traffic_in: today_in,
                today_traffic_out: today_out,
                cur_conns: c.counters.cur_conns(),
            }
        })
        .collect();
    clients.sort_by(|a, b| a.id.cmp(&b.id));
    ClientList { clients }
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn path_segments_are_percent_decoded() {
        assert_eq!(percent_decode("alice.ssh"), "alice.ssh");
        assert_eq!(percent_decode("a%20b%2Fc"), "a b/c");
        assert_eq!(percent_decode("bad%zz%4"), "bad%zz%4");
        assert_eq!(percent_decode("%"), "%");
    }
}
