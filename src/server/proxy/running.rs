//! A proxy registered on frps: what closes it (its cancel token, clean-ups, the task holding
//! its socket) and the `maxPortsPerClient` count.

use std::collections::HashMap;

use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::server::{lock, Server};

/// A proxy a client registered; dropping it does not stop it, [`close`] does.
pub struct RunningProxy {
    pub kind: String,
    pub port: Option<u16>,
    cancel: CancellationToken,
    /// Undo the registration (vhost routes, group membership) when the proxy closes.
    cleanup: Vec<Box<dyn FnOnce() + Send>>,
    /// The task that owns the proxy's socket: its port is free only once the task has ended.
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningProxy {
    pub fn new(kind: &str, port: Option<u16>, cancel: CancellationToken) -> RunningProxy {
        RunningProxy {
            kind: kind.to_string(),
            port,
            cancel,
            cleanup: Vec::new(),
            task: None,
        }
    }

    /// Cancelled when the proxy closes (or its client's session ends).
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// The task holding the proxy's listener or socket (see [`close`]).
    pub fn with_task(mut self, task: tokio::task::JoinHandle<()>) -> RunningProxy {
        self.task = Some(task);
        self
    }

    pub fn on_close(&mut self, f: impl FnOnce() + Send + 'static) {
        self.cleanup.push(Box::new(f));
    }

    /// Undo what was registered so far (a later step of the registration failed).
    pub fn undo(&mut self) {
        for f in self.cleanup.drain(..) {
            f();
        }
    }
}

/// `maxPortsPerClient`: a client's tcp and udp proxies count one port each (group members too).
pub fn exceeds_max_ports(
    cfg: &crate::config::ServerConfig,
    proxies: &HashMap<String, RunningProxy>,
) -> bool {
    let max = cfg.max_ports_per_client;
    max > 0
        && proxies
            .values()
            .filter(|r| r.kind == "tcp" || r.kind == "udp")
            .count() as i64
            >= max
}

/// Stop a proxy: close its listener (its live connections end with the client's session or
/// their own close) and free its name and port.
pub async fn close(server: &Server, name: &str, p: RunningProxy) {
    p.cancel.cancel();
    for f in p.cleanup {
        f();
    }
    // The socket closes when its task ends; wait for that (it ends at once on cancel) so that
    // a NewProxy right after this CloseProxy can bind the same port.
    if let Some(task) = p.task {
        let _ = task.await;
    }
    if let Some(port) = p.port {
        let ports = if p.kind == "udp" {
            &server.udp_ports
        } else {
            &server.ports
        };
        lock(ports).release(name, port);
    }
    lock(&server.proxy_names).remove(name);
    server.stats.proxy_closed(name, &p.kind);
    debug!(proxy_name = %name, kind = %p.kind, "proxy closed");
}
