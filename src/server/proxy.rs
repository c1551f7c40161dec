//! Proxies registered on frps (protocol.md §7.7, §10.1): validation of a NewProxy, the tcp
//! listener on the remote port, and [`Target`]: how any proxy type turns a user connection into
//! a wrapped work connection of its client. udp proxies live in [`super::udp`], vhost proxies
//! in [`super::vhost`].

use crate::transport::accept::Acceptor;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::control::ControlHandle;
use super::stats::{Meter, ProxyConf};
use super::{lock, Server};
use crate::proto::msg::{self, Message};
use crate::proto::{self as proto_mod, errors};
use crate::transport::wrap::{self, LimitedStream, Limiter};
use crate::transport::{splice, AsyncStream, BoxStream};

/// A proxy this client registered; dropping it does not stop it, [`close`] does.
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

/// Where the user connections of one proxy go: its client's work connections, wrapped the way
/// the proxy asked (§8). Every proxy type that carries streams uses it.
pub struct Target {
    pub name: String,
    pub kind: String,
    pub ctl: Arc<ControlHandle>,
    use_encryption: bool,
    use_compression: bool,
    /// The proxy's limiter when `bandwidthLimitMode = "server"` (frps then limits plaintext).
    limiter: Option<Arc<Limiter>>,
    /// Where its connections and traffic are counted (dashboard, Prometheus).
    pub meter: Meter,
}

impl Target {
    pub fn new(
        ctl: &Arc<ControlHandle>,
        kind: &str,
        p: &msg::NewProxy,
        limit: Option<u64>,
        meter: Meter,
    ) -> Arc<Target> {
        Arc::new(Target {
            name: p.proxy_name.clone(),
            kind: kind.to_string(),
            ctl: ctl.clone(),
            use_encryption: p.use_encryption,
            use_compression: p.use_compression,
            limiter: match (limit, p.bandwidth_limit_mode.as_str()) {
                (Some(rate), "server") => Some(Limiter::new(rate)),
                _ => None,
            },
            meter,
        })
    }

    /// A work connection for one user connection from `src` (to `dst` on frps, when known),
    /// after its StartWorkConn, wrapped.
    pub async fn connect(
        &self,
        src: Option<SocketAddr>,
        dst: Option<SocketAddr>,
    ) -> Result<BoxStream, String> {
        let start = msg::StartWorkConn {
            proxy_name: self.name.clone(),
            src_addr: src.map(|a| a.ip().to_string()).unwrap_or_default(),
            src_port: src.map(|a| a.port()).unwrap_or(0),
            dst_addr: dst.map(|a| a.ip().to_string()).unwrap_or_default(),
            dst_port: dst.map(|a| a.port()).unwrap_or(0),
            error: String::new(),
        };
        let work = start_work_conn(&self.ctl, start).await?;
        let mut work: BoxStream = if self.use_encryption || self.use_compression {
            wrap::wrap(
                work,
                &self.ctl.key,
                self.use_encryption,
                self.use_compression,
            )
        } else {
            work
        };
        if let Some(l) = &self.limiter {
            work = Box::new(LimitedStream::new(work, l.clone()));
        }
        Ok(work)
    }

    /// The `NewUserConn` server plugins (tcp, https, tcpmux; not http): Err rejects the user.
    async fn check_user_conn(&self, server: &Server, peer: SocketAddr) -> Result<(), String> {
        use super::plugin::{NewUserConnContent, Op, UserInfo};
        if !server.plugins.handles(Op::NewUserConn) {
            return Ok(());
        }
        let content = NewUserConnContent {
            user: UserInfo::of(&self.ctl),
            proxy_name: self.name.clone(),
            proxy_type: self.kind.clone(),
            remote_addr: peer.to_string(),
        };
        server.plugins.call(content).await.map(|_| ())
    }

    /// Carry one user connection to the end: a work connection, then bytes both ways. Ends early
    /// when the client's session ends (its work connections are gone anyway).
    pub async fn serve<S: AsyncStream>(
        &self,
        server: &Server,
        mut user: S,
        peer: SocketAddr,
        dst: Option<SocketAddr>,
    ) {
        let run = async {
            if let Err(e) = self.check_user_conn(server, peer).await {
                warn!(proxy_name = %self.name, remote = %peer, "the user conn [{peer}] was rejected: {e}");
                return;
            }
            let mut work = match self.connect(Some(peer), dst).await {
                Ok(w) => w,
                Err(e) => {
                    warn!(proxy_name = %self.name, remote = %peer, "failed to get work connection: {e}");
                    return;
                }
            };
            debug!(proxy_name = %self.name, remote = %peer, "join connections");
            let _open = self.meter.open();
            match splice::splice(&mut user, &mut work).await {
                Ok((up, down)) => {
                    self.meter.traffic(up, down);
                    debug!(proxy_name = %self.name, remote = %peer, "connection closed, {up} bytes in, {down} bytes out")
                }
                Err(e) => {
                    debug!(proxy_name = %self.name, remote = %peer, "connection closed: {e}")
                }
            }
        };
        tokio::select! {
            _ = run => {}
            _ = self.ctl.cancel.cancelled() => {}
        }
    }
}

/// Register a NewProxy for this client; returns `remote_addr` or the detailed error text.
pub fn register(
    server: &Arc<Server>,
    ctl: &Arc<ControlHandle>,
    p: msg::NewProxy,
    proxies: &mut HashMap<String, RunningProxy>,
) -> Result<String, String> {
    crate::escape::check_no_control("proxy name", &p.proxy_name)?;
    let kind = if p.proxy_type.is_empty() {
        "tcp".to_string()
    } else {
        p.proxy_type.clone()
    };
    if !crate::config::proxy::PROXY_TYPES.contains(&kind.as_str()) {
        return Err(errors::unknown_proxy_type(&kind));
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
    let meter = server.stats.meter(&p.proxy_name, &kind, &ctl.counters);
    let target = Target::new(ctl, &kind, &p, limit, meter.clone());
    let result = match kind.as_str() {
        "tcp" => start_tcp(server, &target, &p, proxies),
        "udp" => super::udp::start(server, &target, &p, proxies),
        "http" => super::vhost::http::register(server, &target, &p),
        "https" => super::vhost::https::register(server, &target, &p),
        "tcpmux" => super::vhost::tcpmux::register(server, &target, &p),
        "stcp" | "sudp" => super::visitor::register(server, &target, &p),
        "xtcp" => super::visitor::register_xtcp(server, &target, &p),
        _ => Err(format!(
            "proxy type [{kind}] is not supported by this frps build yet"
        )),
    };
    match result {
        Ok((remote_addr, running)) => {
            let port = running.port.map_or(p.remote_port, i64::from);
            let conf = ProxyConf::from_new_proxy(&kind, &p, port);
            server.stats.proxy_opened(&meter, conf, &ctl.info.version);
            proxies.insert(p.proxy_name.clone(), running);
            Ok(remote_addr)
        }
        Err(e) => {
            lock(&server.proxy_names).remove(&p.proxy_name);
            Err(e)
        }
    }
}

fn start_tcp(
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
