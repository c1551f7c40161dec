//! [`Target`]: where the user connections of one proxy go, for every proxy type that carries
//! streams: a work connection of its client after StartWorkConn, wrapped as the proxy asked.

use std::net::SocketAddr;
use std::sync::Arc;

use tracing::{debug, warn};

use crate::proto::msg::{self, Message};
use crate::proto::{self as proto_mod};
use crate::server::session::ControlHandle;
use crate::server::stats::Meter;
use crate::server::Server;
use crate::transport::wrap::{self, LimitedStream, Limiter};
use crate::transport::{splice, AsyncStream, BoxStream};

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
        use crate::server::plugin::{NewUserConnContent, Op, UserInfo};
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

/// Take a work connection and send StartWorkConn on it, retrying with another connection when
/// the write fails (a pooled connection may have died), up to `poolCount + 1` times.
pub async fn start_work_conn(
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
