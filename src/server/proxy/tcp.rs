//! tcp proxies: a listener on the remote port (or a seat in a load-balanced [`super::group`]),
//! each accepted user connection carried by the proxy's [`Target`].

use std::collections::HashMap;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::running::{exceeds_max_ports, RunningProxy};
use super::target::Target;
use crate::proto::errors;
use crate::proto::msg;
use crate::server::{lock, Server};
use crate::transport::accept::Acceptor;

pub fn start(
    server: &Arc<Server>,
    target: &Arc<Target>,
    p: &msg::NewProxy,
    proxies: &HashMap<String, RunningProxy>,
) -> Result<(String, RunningProxy), String> {
    let cfg = server.cfg();
    if exceeds_max_ports(&cfg, proxies) {
        return Err(errors::EXCEED_MAX_PORTS.into());
    }
    if !p.group.is_empty() {
        return super::group::join(server, target, p);
    }
    let (port, listener) = bind(server, p, format!("proxy [{}]", p.proxy_name))?;
    let cancel = target.ctl.cancel.child_token();
    let (stop, srv, t) = (cancel.clone(), server.clone(), target.clone());
    let task = tokio::spawn(listener.serve_until(
        either_cancelled(stop, server.stopping.clone()),
        move |a| {
            let dst = a.stream.local_addr().ok();
            let (server, target) = (srv.clone(), t.clone());
            tokio::spawn(async move { target.serve(&server, a.stream, a.peer, dst).await });
        },
    ));
    info!(client = %target.ctl.tag, proxy_name = %p.proxy_name, proxy_type = "tcp", "tcp proxy listen port [{port}]");
    Ok((
        format!(":{port}"),
        RunningProxy::new("tcp", Some(port), cancel).with_task(task),
    ))
}

/// Take the port `p` asks for (a free one for 0) from the port manager and listen on it;
/// the port goes back if the listener cannot be made. Used by tcp proxies and tcp groups.
pub(super) fn bind(
    server: &Server,
    p: &msg::NewProxy,
    label: String,
) -> Result<(u16, Acceptor), String> {
    if !(0..=65535).contains(&p.remote_port) {
        return Err(errors::PORT_NOT_ALLOWED.into());
    }
    let addr = server.cfg().proxy_bind_addr.clone();
    let (port, std_listener) =
        lock(&server.ports).acquire(&p.proxy_name, p.remote_port as u16, &addr)?;
    match TcpListener::from_std(std_listener) {
        Ok(l) => Ok((port, Acceptor::new(l, label))),
        Err(e) => {
            lock(&server.ports).release(&p.proxy_name, port);
            Err(format!("{}: {e}", errors::PORT_UNAVAILABLE))
        }
    }
}

/// Completes when either token is cancelled (the proxy or group closes, or frps stops).
pub(super) async fn either_cancelled(a: CancellationToken, b: CancellationToken) {
    tokio::select! {
        _ = a.cancelled() => {}
        _ = b.cancelled() => {}
    }
}
