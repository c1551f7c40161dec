//! tcpmux proxies with the `httpconnect` multiplexer (protocol.md §10.5): the user sends
//! `CONNECT host:port`, frps routes on the host (and the Proxy-Authorization user), then carries
//! the rest of the connection like a tcp proxy.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::{debug, info};

use super::{
    add_routes, build_domains, canonical_addr, router::canonical_host, Registration, RouteKey,
    RouteSettings,
};
use crate::proto::msg;
use crate::server::proxy::running::RunningProxy;
use crate::server::proxy::target::Target;
use crate::server::Server;
use crate::transport::prefixed::Prefixed;
use crate::transport::AsyncStream;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A CONNECT request head larger than this is refused.
const MAX_HEAD: usize = 16 * 1024;

const CONNECTED: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
const AUTH_REQUIRED: &[u8] = b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"Restricted\"\r\nContent-Length: 0\r\n\r\n";

pub fn register(
    server: &Arc<Server>,
    target: &Arc<Target>,
    p: &msg::NewProxy,
) -> Result<(String, RunningProxy), String> {
    let cfg = server.cfg();
    if p.multiplexer != "httpconnect" {
        return Err(format!("unknown multiplexer [{}]", p.multiplexer));
    }
    if cfg.tcpmux_http_connect_port == 0 {
        return Err("tcpmux with multiplexer httpconnect not supported because this feature is not enabled in server".into());
    }
    let domains = build_domains(&p.custom_domains, &p.subdomain, &cfg.sub_domain_host)?;
    let reg = Registration {
        proxy_name: &p.proxy_name,
        group: &p.group,
        group_key: &p.group_key,
        settings: RouteSettings {
            http_user: p.http_user.clone(),
            http_pwd: p.http_pwd.clone(),
            ..Default::default()
        },
    };
    let mut running = RunningProxy::new("tcpmux", None, target.ctl.cancel.child_token());
    let keys: Vec<RouteKey> = domains
        .into_iter()
        .map(|domain| RouteKey {
            domain,
            location: String::new(),
            user: p.route_by_http_user.clone(),
        })
        .collect();
    add_routes(
        server,
        |s| &s.vhost.tcpmux,
        &keys,
        &reg,
        target,
        &mut running,
    )?;
    let mut addrs = Vec::new();
    for k in &keys {
        info!(client = %target.ctl.tag, proxy_name = %p.proxy_name, proxy_type = "tcpmux", "tcpmux httpconnect multiplexer listens for host [{}], group [{}] routeByHTTPUser [{}]", k.domain, p.group, p.route_by_http_user);
        addrs.push(canonical_addr(&k.domain, cfg.tcpmux_http_connect_port));
    }
    Ok((addrs.join(","), running))
}

/// The parts of a CONNECT request head that routing needs.
struct ConnectRequest {
    host: String,
    user: String,
    pwd: String,
    /// Length of the head including its blank line; bytes after it belong to the tunnel.
    head_len: usize,
}

/// For the fuzz target `request_heads` (fuzz/): parse a CONNECT head, whatever the bytes.
#[cfg(fuzzing)]
pub fn fuzz_parse_connect(buf: &[u8]) {
    let _ = parse_connect(buf);
}

fn parse_connect(buf: &[u8]) -> Result<Option<ConnectRequest>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("bad request: {e}")),
    };
    if req.method != Some("CONNECT") {
        return Err(format!(
            "not a CONNECT request: {}",
            req.method.unwrap_or("")
        ));
    }
    let (mut user, mut pwd) = (String::new(), String::new());
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("proxy-authorization") {
            let value = hyper::header::HeaderValue::from_bytes(h.value).ok();
            if let Some((u, p)) = value.and_then(|v| crate::web::basic_credentials(&v, false)) {
                (user, pwd) = (u, p);
            }
        }
    }
    Ok(Some(ConnectRequest {
        host: canonical_host(req.path.unwrap_or("")),
        user,
        pwd,
        head_len,
    }))
}

async fn read_connect<S: AsyncStream>(conn: &mut S) -> Result<(Vec<u8>, ConnectRequest), String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = conn.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed before the request ended".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(req) = parse_connect(&buf)? {
            return Ok((buf, req));
        }
        if buf.len() > MAX_HEAD {
            return Err("request head too large".into());
        }
    }
}

/// One connection on the tcpmux port.
pub async fn serve_conn<S: AsyncStream>(
    server: Arc<Server>,
    mut conn: S,
    peer: SocketAddr,
    dst: Option<SocketAddr>,
) {
    let (buf, req) = match tokio::time::timeout(REQUEST_TIMEOUT, read_connect(&mut conn)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            debug!(remote = %peer, "tcpmux: {e}");
            return;
        }
        Err(_) => {
            debug!(remote = %peer, "tcpmux: no request within {}s", REQUEST_TIMEOUT.as_secs());
            return;
        }
    };
    let cfg = server.cfg();
    let Some(route) = server.vhost.tcpmux.lookup(&req.host, "", &req.user) else {
        debug!(remote = %peer, "tcpmux: no route for host [{}] user [{}]", req.host, req.user);
        let _ = conn
            .write_all(&super::raw_not_found(&cfg.custom_404_page).await)
            .await;
        let _ = conn.shutdown().await;
        return;
    };
    // frp writes its 200 before checking the credentials, so a refused client has already been
    // told it is connected; we check first and answer 407 alone.
    if !route.settings.http_user.is_empty() && !route.auth_ok(&req.user, &req.pwd) {
        debug!(remote = %peer, "tcpmux: proxy authentication failed for host [{}]", req.host);
        let _ = conn.write_all(AUTH_REQUIRED).await;
        let _ = conn.shutdown().await;
        return;
    }
    let Some(target) = route.pick() else {
        return;
    };
    let replay = if cfg.tcpmux_passthrough {
        buf
    } else {
        if conn.write_all(CONNECTED).await.is_err() {
            return;
        }
        buf[req.head_len..].to_vec()
    };
    target
        .serve(&server, Prefixed::new(replay, conn), peer, dst)
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_connect_heads() {
        let buf = b"CONNECT A.test:443 HTTP/1.1\r\nHost: a.test\r\nProxy-Authorization: Basic dTpw\r\n\r\nxyz";
        let r = parse_connect(buf).unwrap().unwrap();
        assert_eq!(
            (r.host.as_str(), r.user.as_str(), r.pwd.as_str()),
            ("a.test", "u", "p")
        );
        assert_eq!(&buf[r.head_len..], b"xyz");
        assert!(parse_connect(b"CONNECT a.test:1 HTTP/1.1\r\n")
            .unwrap()
            .is_none());
        assert!(parse_connect(b"GET / HTTP/1.1\r\n\r\n").is_err());
    }
}
