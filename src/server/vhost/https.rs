//! https proxies (protocol.md §10.4): route a TLS connection on its ClientHello's server name and
//! hand the whole byte stream, unterminated, to the proxy's client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tracing::{debug, info};

use super::{
    add_routes, build_domains, canonical_addr, sni, Registration, RouteKey, RouteSettings,
};
use crate::proto::msg;
use crate::server::proxy::running::RunningProxy;
use crate::server::proxy::target::Target;
use crate::server::Server;
use crate::transport::prefixed::Prefixed;
use crate::transport::AsyncStream;

/// How long a new connection may take to send its ClientHello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);

pub fn register(
    server: &Arc<Server>,
    target: &Arc<Target>,
    p: &msg::NewProxy,
) -> Result<(String, RunningProxy), String> {
    let cfg = server.cfg();
    if cfg.vhost_https_port == 0 {
        return Err("type [https] not supported when vhost https port is not set".into());
    }
    let domains = build_domains(&p.custom_domains, &p.subdomain, &cfg.sub_domain_host)?;
    // frp has no load-balancing groups for https: a second proxy for a name is a conflict.
    let reg = Registration {
        proxy_name: &p.proxy_name,
        group: "",
        group_key: "",
        settings: RouteSettings::default(),
    };
    let mut running = RunningProxy::new("https", None, target.ctl.cancel.child_token());
    let keys: Vec<RouteKey> = domains
        .into_iter()
        .map(|domain| RouteKey {
            domain,
            location: String::new(),
            user: String::new(),
        })
        .collect();
    add_routes(
        server,
        |s| &s.vhost.https,
        &keys,
        &reg,
        target,
        &mut running,
    )?;
    let mut addrs = Vec::new();
    for k in &keys {
        info!(client = %target.ctl.tag, proxy_name = %p.proxy_name, proxy_type = "https", "https proxy listen for host [{}]", k.domain);
        addrs.push(canonical_addr(&k.domain, cfg.vhost_https_port));
    }
    Ok((addrs.join(","), running))
}

/// One connection on the vhost https port.
pub async fn serve_conn<S: AsyncStream>(
    server: Arc<Server>,
    mut conn: S,
    peer: SocketAddr,
    dst: Option<SocketAddr>,
) {
    let Some((hello, name)) = read_hello(&mut conn, peer).await else {
        return;
    };
    let Some(target) = route(&server, &name) else {
        debug!(remote = %peer, "https: no route for server name [{name}]");
        let _ = conn.write_all(&sni::UNRECOGNIZED_NAME_ALERT).await;
        let _ = conn.shutdown().await;
        return;
    };
    serve_routed(&server, &target, hello, &name, conn, peer, dst).await;
}

/// The ClientHello (bytes and server name) within the 30 s limit; `None` after logging why not.
pub async fn read_hello<S: AsyncStream>(
    conn: &mut S,
    peer: SocketAddr,
) -> Option<(Vec<u8>, String)> {
    match tokio::time::timeout(HELLO_TIMEOUT, sni::read_client_hello(conn)).await {
        Ok(Ok(h)) => Some(h),
        Ok(Err(e)) => {
            debug!(remote = %peer, "https: no usable ClientHello: {e}");
            None
        }
        Err(_) => {
            debug!(remote = %peer, "https: no ClientHello within {}s", HELLO_TIMEOUT.as_secs());
            None
        }
    }
}

/// The proxy serving `name`, if any.
pub fn route(server: &Server, name: &str) -> Option<Arc<Target>> {
    server
        .vhost
        .https
        .lookup(name, "", "")
        .and_then(|r| r.pick())
}

/// Replay the ClientHello and carry the connection to `target`.
pub async fn serve_routed<S: AsyncStream>(
    server: &Server,
    target: &Target,
    hello: Vec<u8>,
    name: &str,
    conn: S,
    peer: SocketAddr,
    dst: Option<SocketAddr>,
) {
    debug!(proxy_name = %target.name, remote = %peer, "https request for host [{name}]");
    target
        .serve(server, Prefixed::new(hello, conn), peer, dst)
        .await;
}
