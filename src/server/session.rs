//! A logged-in client as its proxies see it on frps: who it is, its key, its control channel
//! (to ask for work connections) and its work-connection pool. The session's own loop lives
//! in [`super::control`]; proxies, plugins and visitors hold this handle instead.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::origin::Origin;
use super::stats::Counters;
use crate::proto::msg::{self, Message};
use crate::transport::BoxStream;

/// The parts of a client session that its proxies' connection handlers use.
pub struct ControlHandle {
    pub run_id: String,
    /// What logs and the dashboard call this client ([`crate::client_tag`]): never the run id.
    pub tag: String,
    /// The connection the Login came by: work and visitor connections must match it.
    pub origin: Origin,
    pub user: String,
    /// The Login's `metas` (server plugins see them with every operation of this client).
    pub metas: msg::StrMap,
    /// The token this client logged in with and its AES key: they stay valid for the session
    /// even when a reload changes `auth.token` (new logins need the new one).
    pub token: crate::config::types::Secret,
    pub key: [u8; 16],
    pub pool_count: usize,
    pub auth_work_conns: bool,
    pub(super) user_conn_timeout: Duration,
    pub(super) out: mpsc::Sender<Message>,
    pub(super) pool_tx: mpsc::Sender<BoxStream>,
    pub(super) pool_rx: tokio::sync::Mutex<mpsc::Receiver<BoxStream>>,
    /// Cancelled to end the session (replacement by a new login with the same run id).
    pub cancel: CancellationToken,
    /// Cancelled once the session has fully cleaned up (proxies closed, ports released).
    pub done: CancellationToken,
    /// What the dashboard shows of this client, and its connections and traffic.
    pub info: ClientInfo,
    pub counters: Arc<Counters>,
    /// How many proxies the session has registered (the session task owns the proxies).
    pub(super) proxy_count: AtomicUsize,
}

/// A logged-in client as its Login described it.
pub struct ClientInfo {
    pub version: String,
    pub hostname: String,
    pub os: String,
    pub arch: String,
    pub address: SocketAddr,
    pub login_time: time::OffsetDateTime,
}

impl ControlHandle {
    pub fn proxy_count(&self) -> usize {
        self.proxy_count.load(Ordering::Relaxed)
    }

    /// Queue a message for the client; false once the session is gone.
    pub async fn send(&self, m: Message) -> bool {
        self.out.send(m).await.is_ok()
    }

    /// A NewWorkConn arrived for this client; a full pool drops the connection (as frp does).
    pub fn put_work_conn(&self, conn: BoxStream) {
        if self.pool_tx.try_send(conn).is_err() {
            debug!(client = %self.tag, "work connection pool is full, discarding");
        }
    }

    /// Take a work connection: from the pool, else ask the client for one and wait
    /// `userConnTimeout`. Every successful take asks for one more to refill the pool.
    pub async fn get_work_conn(&self) -> Result<BoxStream, String> {
        let deadline = tokio::time::Instant::now() + self.user_conn_timeout;
        let pooled = match self.pool_rx.try_lock() {
            Ok(mut rx) => rx.try_recv().ok(),
            Err(_) => None,
        };
        let conn = match pooled {
            Some(c) => c,
            None => {
                if !self.send(Message::ReqWorkConn(msg::ReqWorkConn {})).await {
                    return Err("client control is closed".into());
                }
                let wait = async {
                    let mut rx = self.pool_rx.lock().await;
                    rx.recv().await
                };
                match tokio::time::timeout_at(deadline, wait).await {
                    Ok(Some(c)) => c,
                    Ok(None) => return Err("client control is closed".into()),
                    Err(_) => return Err("timeout trying to get work connection".into()),
                }
            }
        };
        let _ = self.send(Message::ReqWorkConn(msg::ReqWorkConn {})).await;
        Ok(conn)
    }
}
