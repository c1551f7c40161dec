//! xtcp on frpc (protocol.md §10.8): the NatHoleResp routing on the control connection and the
//! owner's side (NatHoleSid on a work connection → discovery → NatHoleClient → punching → the
//! QUIC tunnel whose streams go to the local service). The visitor's side lives in
//! [`super::visitor::xtcp`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::proxy::ProxyConfig;
use crate::config::ClientConfig;
use crate::nathole::{punch, stun, tunnel};
use crate::proto::crypto::derive_key;
use crate::proto::msg::{self, Message};
use crate::proto::{self as proto_mod};
use crate::transport::{splice, tcp, wrap, BoxStream};

/// How long a NatHoleVisitor / NatHoleClient waits for its NatHoleResp.
pub const RESP_WAIT: Duration = Duration::from_secs(5);
/// How long the owner waits for the visitor's QUIC handshake after punching.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on the NatHoleResp waiters of one session.
const MAX_WAITERS: usize = 256;

/// The control connection's side of xtcp: sends NatHole* messages, hands each NatHoleResp to
/// the task waiting for its transaction id.
#[derive(Default)]
pub struct Hub {
    out: Mutex<Option<mpsc::Sender<Message>>>,
    waiters: Mutex<HashMap<String, oneshot::Sender<msg::NatHoleResp>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Hub {
    pub fn set_out(&self, out: Option<mpsc::Sender<Message>>) {
        *lock(&self.out) = out;
        if lock(&self.out).is_none() {
            lock(&self.waiters).clear();
        }
    }

    /// Queues `m` on the control connection.
    pub async fn send(&self, m: Message) -> Result<(), String> {
        let out = lock(&self.out)
            .clone()
            .ok_or("control connection is closed")?;
        out.send(m)
            .await
            .map_err(|_| "control connection is closed".to_string())
    }

    /// Sends `m` and waits [`RESP_WAIT`] for the NatHoleResp of `transaction_id`. A response
    /// with an error is an Err.
    pub async fn request(
        &self,
        transaction_id: &str,
        m: Message,
    ) -> Result<msg::NatHoleResp, String> {
        self.request_for(transaction_id, m, RESP_WAIT).await
    }

    /// As [`Hub::request`] waiting up to `wait` (frps answers a NatHoleVisitor only once the
    /// owner reported its addresses).
    pub async fn request_for(
        &self,
        transaction_id: &str,
        m: Message,
        wait: Duration,
    ) -> Result<msg::NatHoleResp, String> {
        let (tx, rx) = oneshot::channel();
        {
            let mut w = lock(&self.waiters);
            if w.len() >= MAX_WAITERS {
                return Err("too many nat hole requests in flight".into());
            }
            w.insert(transaction_id.to_string(), tx);
        }
        if let Err(e) = self.send(m).await {
            lock(&self.waiters).remove(transaction_id);
            return Err(e);
        }
        let r = tokio::time::timeout(wait, rx).await;
        lock(&self.waiters).remove(transaction_id);
        match r {
            Ok(Ok(resp)) if !resp.error.is_empty() => Err(resp.error),
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(_)) => Err("control connection is closed".into()),
            Err(_) => Err("wait nat hole response timeout".into()),
        }
    }

    /// A NatHoleResp arrived on the control connection.
    pub fn on_resp(&self, resp: msg::NatHoleResp) {
        match lock(&self.waiters).remove(&resp.transaction_id) {
            Some(tx) => {
                let _ = tx.send(resp);
            }
            None => debug!("NatHoleResp for an unknown transaction, ignored"),
        }
    }
}

/// Wraps one tunnel stream with the secret key per the flags (the xtcp leg, §8).
pub fn wrap_stream(s: BoxStream, sk: &str, encryption: bool, compression: bool) -> BoxStream {
    if encryption || compression {
        wrap::wrap(s, &derive_key(sk.as_bytes()), encryption, compression)
    } else {
        s
    }
}

/// The owner's side for one work connection of the xtcp proxy `cfg`: read NatHoleSid, punch,
/// serve the tunnel's streams until the tunnel or the session (`end`) ends. `hub` is the
/// session's NatHole* channel, `client` its configuration.
pub async fn serve_owner(
    hub: Arc<Hub>,
    client: Arc<ClientConfig>,
    end: CancellationToken,
    mut work: BoxStream,
    cfg: Arc<ProxyConfig>,
) {
    let name = cfg.name.clone();
    let sid = match tokio::time::timeout(Duration::from_secs(10), proto_mod::read_msg(&mut work))
        .await
    {
        Ok(Ok(Message::NatHoleSid(m))) => m.sid,
        Ok(Ok(other)) => {
            warn!(proxy_name = %name, "xtcp work connection: expected NatHoleSid, got {}", other.name());
            return;
        }
        Ok(Err(e)) => {
            debug!(proxy_name = %name, "xtcp work connection closed: {e}");
            return;
        }
        Err(_) => {
            warn!(proxy_name = %name, "xtcp work connection: NatHoleSid timeout");
            return;
        }
    };
    drop(work);
    let sk = cfg.secret_key.clone().unwrap_or_default();
    let disc = match stun::discover(&client.nat_hole_stun_server).await {
        Ok(d) => d,
        Err(e) => {
            warn!(proxy_name = %name, "nathole discover error: {e}");
            return;
        }
    };
    let assisted = disc.assisted_addrs(cfg.nat_traversal.as_ref());
    let tid = crate::nathole::new_transaction_id();
    let m = Message::NatHoleClient(msg::NatHoleClient {
        transaction_id: tid.clone(),
        proxy_name: name.clone(),
        sid: sid.clone(),
        mapped_addrs: disc.mapped_addrs.clone(),
        assisted_addrs: assisted,
    });
    let resp = match hub.request(&tid, m).await {
        Ok(r) if r.candidate_addrs.is_empty() => {
            warn!(proxy_name = %name, "get natHoleRespMsg error: no candidate addresses");
            return;
        }
        Ok(r) => r,
        Err(e) => {
            warn!(proxy_name = %name, "get natHoleRespMsg error: {e}");
            return;
        }
    };
    debug!(proxy_name = %name, "nathole candidates {:?}, behavior role {}", resp.candidate_addrs, resp.detect_behavior.role);
    let punched = punch::make_hole(disc.socket, &resp, &sk).await;
    let report = |success: bool| {
        Message::NatHoleReport(msg::NatHoleReport {
            sid: sid.clone(),
            success,
        })
    };
    let (socket, peer) = match punched {
        Ok(p) => p,
        Err(e) => {
            let _ = hub.send(report(false)).await;
            warn!(proxy_name = %name, "make hole error: {e}");
            return;
        }
    };
    let _ = hub.send(report(true)).await;
    info!(proxy_name = %name, "establishing nat hole connection successful, peer {peer}");
    let server =
        match tunnel::QuicServer::accept_from(socket, peer, &client.transport.quic, ACCEPT_TIMEOUT)
            .await
        {
            Ok(s) => s,
            Err(e) => {
                warn!(proxy_name = %name, "quic accept from {peer} error: {e}");
                return;
            }
        };
    loop {
        let stream = tokio::select! {
            s = server.accept() => s,
            _ = end.cancelled() => break,
        };
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                debug!(proxy_name = %name, "xtcp tunnel closed: {e}");
                break;
            }
        };
        let cfg = cfg.clone();
        let sk = sk.clone();
        tokio::spawn(async move {
            let t = &cfg.transport;
            let mut work = wrap_stream(stream.boxed(), &sk, t.use_encryption, t.use_compression);
            let local_port = u16::try_from(cfg.local_port).unwrap_or(0);
            let mut local = match tcp::dial(
                &cfg.local_ip,
                local_port,
                Duration::from_secs(10),
                None,
                7200,
            )
            .await
            {
                Ok(s) => s,
                Err(e) => {
                    warn!(proxy_name = %cfg.name, "connect to local service error: {e}");
                    return;
                }
            };
            match splice::splice(&mut work, &mut local).await {
                Ok((down, up)) => {
                    debug!(proxy_name = %cfg.name, "xtcp stream closed, {down} bytes to local, {up} bytes back")
                }
                Err(e) => debug!(proxy_name = %cfg.name, "xtcp stream closed: {e}"),
            }
        });
    }
    server.close();
}
