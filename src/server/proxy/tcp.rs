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
    let cancel = target.ctl.cancel.child_token();
    let listener = Acceptor::new(listener, format!("proxy [{}]", p.proxy_name));
    let task = tokio::spawn(accept_loop(
        server.clone(),
        target.clone(),
        listener,
        cancel.clone(),
    ));
    info!(client = %target.ctl.tag, proxy_name = %p.proxy_name, proxy_type = "tcp", "tcp proxy listen port [{port}]");
    Ok((
        format!(":{port}"),
        RunningProxy::new("tcp", Some(port), cancel).with_task(task),
    ))
}

async fn accept_loop(
    server: Arc<Server>,
    target: Arc<Target>,
    mut listener: Acceptor,
    cancel: CancellationToken,
) {
    loop {
        let a = tokio::select! {
            a = listener.accept() => a,
            _ = cancel.cancelled() => return,
            _ = server.stopping.cancelled() => return,
        };
        let dst = a.stream.local_addr().ok();
        let (server, target) = (server.clone(), target.clone());
        tokio::spawn(async move { target.serve(&server, a.stream, a.peer, dst).await });
    }
}
