//! Proxies registered on frps (protocol.md §7.7, §10.1): validation of a NewProxy, the tcp
//! listener on the remote port, and each user connection spliced to a work connection. udp
//! proxies live in [`super::udp`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::control::ControlHandle;
use super::{lock, Server};
use crate::proto::msg::{self, Message};
use crate::proto::{self as proto_mod, errors};
use crate::transport::wrap::{self, LimitedStream, Limiter};
use crate::transport::{splice, BoxStream};

/// A proxy this client registered; dropping it does not stop it, [`close`] does.
pub struct RunningProxy {
    pub kind: String,
    pub port: Option<u16>,
    pub(super) cancel: CancellationToken,
}

/// What a user connection of a tcp proxy needs to know.
struct TcpProxy {
    name: String,
    use_encryption: bool,
    use_compression: bool,
    /// The proxy's limiter when `bandwidthLimitMode = "server"` (frps then limits plaintext).
    limiter: Option<Arc<Limiter>>,
}

/// Register a NewProxy for this client; returns `remote_addr` or the detailed error text.
pub fn register(
    server: &Arc<Server>,
    ctl: &Arc<ControlHandle>,
    p: msg::NewProxy,
    proxies: &mut HashMap<String, RunningProxy>,
) -> Result<String, String> {
    let kind = if p.proxy_type.is_empty() {
        "tcp".to_string()
    } else {
        p.proxy_type.clone()
    };
    if !crate::config::proxy::PROXY_TYPES.contains(&kind.as_str()) {
        return Err(errors::unknown_proxy_type(&kind));
    }
    if kind != "tcp" && kind != "udp" {
        return Err(format!(
            "proxy type [{kind}] is not supported by this frps build yet"
        ));
    }
    let limit =
        wrap::parse_bandwidth(&p.bandwidth_limit).map_err(|e| format!("bandwidth_limit: {e}"))?;
    {
        let mut names = lock(&server.proxy_names);
        if names.contains_key(&p.proxy_name) {
            return Err(errors::proxy_already_exists(&p.proxy_name));
        }
        names.insert(p.proxy_name.clone(), kind.clone());
    }
    let result = match kind.as_str() {
        "udp" => super::udp::start(server, ctl, &p, limit, proxies),
        _ => start_tcp(server, ctl, &p, limit, proxies),
    };
    match result {
        Ok((port, running)) => {
            info!(run_id = %ctl.run_id, proxy_name = %p.proxy_name, proxy_type = %kind, "{kind} proxy listen port [{port}]");
            server.stats.proxy_opened(&kind);
            proxies.insert(p.proxy_name.clone(), running);
            Ok(format!(":{port}"))
        }
        Err(e) => {
            lock(&server.proxy_names).remove(&p.proxy_name);
            Err(e)
        }
    }
}

fn start_tcp(
    server: &Arc<Server>,
    ctl: &Arc<ControlHandle>,
    p: &msg::NewProxy,
    limit: Option<u64>,
    proxies: &HashMap<String, RunningProxy>,
) -> Result<(u16, RunningProxy), String> {
    let cfg = server.cfg();
    let max = cfg.max_ports_per_client;
    if max > 0 && proxies.values().filter(|r| r.port.is_some()).count() as i64 >= max {
        return Err(errors::EXCEED_MAX_PORTS.into());
    }
    if !(0..=65535).contains(&p.remote_port) {
        return Err(errors::PORT_NOT_ALLOWED.into());
    }
    let (port, std_listener) =
        lock(&server.ports).acquire(&p.proxy_name, p.remote_port as u16, &cfg.proxy_bind_addr)?;
    let listener = match TcpListener::from_std(std_listener) {
        Ok(l) => l,
        Err(e) => {
            lock(&server.ports).release(&p.proxy_name, port);
            return Err(format!("{}: {e}", errors::PORT_UNAVAILABLE));
        }
    };
    let cancel = ctl.cancel.child_token();
    let info = Arc::new(TcpProxy {
        name: p.proxy_name.clone(),
        use_encryption: p.use_encryption,
        use_compression: p.use_compression,
        limiter: match (limit, p.bandwidth_limit_mode.as_str()) {
            (Some(rate), "server") => Some(Limiter::new(rate)),
            _ => None,
        },
    });
    tokio::spawn(accept_loop(
        server.clone(),
        ctl.clone(),
        info,
        listener,
        cancel.clone(),
    ));
    Ok((
        port,
        RunningProxy {
            kind: "tcp".into(),
            port: Some(port),
            cancel,
        },
    ))
}

/// Stop a proxy: close its listener (its live connections end with the client's session or
/// their own close) and free its name and port.
pub fn close(server: &Server, name: &str, p: RunningProxy) {
    p.cancel.cancel();
    if let Some(port) = p.port {
        let ports = if p.kind == "udp" {
            &server.udp_ports
        } else {
            &server.ports
        };
        lock(ports).release(name, port);
    }
    lock(&server.proxy_names).remove(name);
    server.stats.proxy_closed(&p.kind);
    debug!(proxy_name = %name, kind = %p.kind, "proxy closed");
}

async fn accept_loop(
    server: Arc<Server>,
    ctl: Arc<ControlHandle>,
    proxy: Arc<TcpProxy>,
    listener: TcpListener,
    cancel: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = cancel.cancelled() => return,
            _ = server.stopping.cancelled() => return,
        };
        match accepted {
            Ok((user, peer)) => {
                let (server, ctl, proxy, cancel) =
                    (server.clone(), ctl.clone(), proxy.clone(), cancel.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        _ = handle_user_conn(&server, &ctl, &proxy, user, peer) => {}
                        // The client session ended: its work connections are gone anyway.
                        _ = ctl.cancel.cancelled() => {}
                    }
                    drop(cancel);
                });
            }
            Err(e) => {
                warn!(proxy_name = %proxy.name, "accept error: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle_user_conn(
    server: &Server,
    ctl: &ControlHandle,
    proxy: &TcpProxy,
    mut user: TcpStream,
    peer: SocketAddr,
) {
    let _ = user.set_nodelay(true);
    let local = user.local_addr().ok();
    let start = msg::StartWorkConn {
        proxy_name: proxy.name.clone(),
        src_addr: peer.ip().to_string(),
        src_port: peer.port(),
        dst_addr: local.map(|a| a.ip().to_string()).unwrap_or_default(),
        dst_port: local.map(|a| a.port()).unwrap_or(0),
        error: String::new(),
    };
    let work = match start_work_conn(ctl, start).await {
        Ok(w) => w,
        Err(e) => {
            warn!(proxy_name = %proxy.name, remote = %peer, "failed to get work connection: {e}");
            return;
        }
    };
    let mut work: BoxStream = if proxy.use_encryption || proxy.use_compression {
        wrap::wrap(work, &ctl.key, proxy.use_encryption, proxy.use_compression)
    } else {
        work
    };
    if let Some(l) = &proxy.limiter {
        work = Box::new(LimitedStream::new(work, l.clone()));
    }
    debug!(proxy_name = %proxy.name, remote = %peer, "join connections");
    let _open = server.stats.connection();
    match splice::splice(&mut user, &mut work).await {
        Ok((up, down)) => {
            server.stats.add_traffic(up, down);
            debug!(proxy_name = %proxy.name, remote = %peer, "connection closed, {up} bytes in, {down} bytes out")
        }
        Err(e) => debug!(proxy_name = %proxy.name, remote = %peer, "connection closed: {e}"),
    }
}

/// Take a work connection and send StartWorkConn on it, retrying with another connection when
/// the write fails (a pooled connection may have died), up to `poolCount + 1` times.
pub(super) async fn start_work_conn(
    ctl: &ControlHandle,
    start: msg::StartWorkConn,
) -> Result<BoxStream, String> {
    let frame = Message::StartWorkConn(start);
    let mut last = String::new();
    for _ in 0..ctl.pool_count + 1 {
        let mut conn = ctl.get_work_conn().await?;
        match proto_mod::write_msg(&mut conn, &frame).await {
            Ok(()) => return Ok(conn),
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!("write StartWorkConn failed: {last}"))
}
