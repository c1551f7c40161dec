//! xtcp visitors (protocol.md §10.8): a QUIC tunnel punched straight to the owner frpc; every
//! user connection accepted on `bindAddr:bindPort` is one stream of it. Without a tunnel
//! (punching failed) a connection goes to the `fallbackTo` visitor, when set.

use crate::transport::accept::Acceptor;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tracing::{debug, info, warn};

use super::{Ctx, Started};
use crate::config::proxy::VisitorConfig;
use crate::nathole::{punch, stun, tunnel};
use crate::proto::crypto::auth_key;
use crate::proto::msg::{self, Message};
use crate::transport::{splice, BoxStream};

/// Punching again after a failure waits at least this long.
const REPUNCH_INTERVAL: Duration = Duration::from_secs(10);
/// How long a user connection waits for a tunnel (without fallbackTo).
const TUNNEL_WAIT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(500);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

struct Tunnel {
    cfg: Arc<VisitorConfig>,
    ctx: Ctx,
    client: Mutex<Option<Arc<tunnel::QuicClient>>>,
    /// Asks the keeper to punch (a user connection found no usable tunnel).
    need: Notify,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Binds the listener and starts the tunnel keeper (over quic: loading refused the others).
pub fn start(cfg: &Arc<VisitorConfig>, ctx: Ctx) -> Result<Started, String> {
    let listener = super::bind_listener(cfg, "xtcp")?;
    let t = Arc::new(Tunnel {
        cfg: cfg.clone(),
        ctx,
        client: Mutex::new(None),
        need: Notify::new(),
    });
    let task = tokio::spawn(run(t, listener));
    Ok(Started {
        task,
        handover: None,
    })
}

async fn run(t: Arc<Tunnel>, mut listener: Option<Acceptor>) {
    let keeper = tokio::spawn(keep(t.clone()));
    loop {
        let a = tokio::select! {
            a = super::accept(listener.as_mut()) => a,
            _ = t.ctx.cancel.cancelled() => break,
        };
        debug!(visitor = %t.cfg.name, remote = %a.peer, "get a new xtcp user connection");
        tokio::spawn(serve(t.clone(), Box::new(a.stream)));
    }
    keeper.abort();
    if let Some(c) = lock(&t.client).take() {
        c.close();
    }
}

/// Punches at start, then whenever asked (at most once per [`REPUNCH_INTERVAL`]); with
/// `keepTunnelOpen`, also every `minRetryInterval`, limited to `maxRetriesAnHour`.
async fn keep(t: Arc<Tunnel>) {
    let keep_open = t.cfg.keep_tunnel_open.unwrap_or(false);
    let min_retry = Duration::from_secs(
        u64::try_from(t.cfg.min_retry_interval.unwrap_or(90))
            .unwrap_or(90)
            .max(1),
    );
    let max_per_hour = usize::try_from(t.cfg.max_retries_an_hour.unwrap_or(8)).unwrap_or(8);
    let mut attempts: Vec<Instant> = Vec::new();
    let mut last: Option<Instant> = None;
    let mut first = true;
    loop {
        let by_timer = if first {
            first = false;
            false
        } else {
            tokio::select! {
                _ = t.need.notified() => false,
                _ = tokio::time::sleep(min_retry), if keep_open => true,
            }
        };
        if lock(&t.client).as_ref().is_some_and(|c| !c.is_closed()) {
            continue;
        }
        if let Some(l) = last {
            let since = l.elapsed();
            if since < REPUNCH_INTERVAL {
                tokio::time::sleep(REPUNCH_INTERVAL - since).await;
            }
        }
        if by_timer {
            attempts.retain(|a| a.elapsed() < Duration::from_secs(3600));
            if attempts.len() >= max_per_hour {
                debug!(visitor = %t.cfg.name, "keepTunnelOpen: retry limit reached");
                continue;
            }
            attempts.push(Instant::now());
        }
        last = Some(Instant::now());
        match punch_tunnel(&t).await {
            Ok(c) => {
                info!(visitor = %t.cfg.name, "xtcp tunnel established");
                *lock(&t.client) = Some(Arc::new(c));
            }
            Err(e) => warn!(visitor = %t.cfg.name, "make hole error: {e}"),
        }
    }
}

async fn punch_tunnel(t: &Tunnel) -> Result<tunnel::QuicClient, String> {
    let s = &t.ctx.session;
    let cfg = &t.cfg;
    let tid = crate::nathole::new_transaction_id();
    let pre = Message::NatHoleVisitor(msg::NatHoleVisitor {
        transaction_id: tid.clone(),
        proxy_name: cfg.server_name.clone(),
        pre_check: true,
        ..Default::default()
    });
    s.nathole
        .request(&tid, pre)
        .await
        .map_err(|e| format!("xtcp pre-check error: {e}"))?;
    let disc = stun::discover(&s.cfg.nat_hole_stun_server)
        .await
        .map_err(|e| format!("discover error: {e}"))?;
    let assisted = disc.assisted_addrs(cfg.nat_traversal.as_ref());
    let now = crate::unix_now();
    let tid = crate::nathole::new_transaction_id();
    let m = Message::NatHoleVisitor(msg::NatHoleVisitor {
        transaction_id: tid.clone(),
        proxy_name: cfg.server_name.clone(),
        pre_check: false,
        protocol: "quic".into(),
        sign_key: auth_key(&cfg.secret_key, now),
        timestamp: now,
        mapped_addrs: disc.mapped_addrs.clone(),
        assisted_addrs: assisted,
    });
    // frps answers only after the owner reported its addresses (up to its 10 s wait).
    let resp = s
        .nathole
        .request_for(&tid, m, Duration::from_secs(15))
        .await?;
    if resp.candidate_addrs.is_empty() {
        return Err("no candidate addresses".into());
    }
    let (socket, peer) = punch::make_hole(disc.socket, &resp, &cfg.secret_key)
        .await
        .map_err(|e| e.to_string())?;
    info!(visitor = %cfg.name, "establishing nat hole connection successful, peer {peer}");
    tunnel::QuicClient::connect(socket, peer, &s.cfg.transport.quic, HANDSHAKE_TIMEOUT)
        .await
        .map_err(|e| e.to_string())
}

/// A stream of the tunnel, waiting up to `wait` for one (asking the keeper to punch).
async fn open_stream(t: &Tunnel, wait: Duration) -> Option<tunnel::QuicStream> {
    let deadline = Instant::now() + wait;
    loop {
        let client = lock(&t.client).clone();
        if let Some(c) = client {
            match c.open().await {
                Ok(s) => return Some(s),
                Err(e) => {
                    debug!(visitor = %t.cfg.name, "open tunnel stream error: {e}");
                    let mut cur = lock(&t.client);
                    if cur.as_ref().is_some_and(|x| Arc::ptr_eq(x, &c)) {
                        *cur = None;
                    }
                }
            }
        }
        t.need.notify_one();
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn serve(t: Arc<Tunnel>, mut user: BoxStream) {
    let end = t.ctx.session.cancel.clone();
    let fallback = t.cfg.fallback_to.clone().filter(|f| !f.is_empty());
    let wait = match &fallback {
        Some(_) => Duration::from_millis(
            u64::try_from(t.cfg.fallback_timeout_ms.unwrap_or(1000)).unwrap_or(1000),
        ),
        None => TUNNEL_WAIT,
    };
    let run = async {
        let Some(stream) = open_stream(&t, wait).await else {
            if let Some(f) = &fallback {
                if let Some(m) = t.ctx.manager.upgrade() {
                    debug!(visitor = %t.cfg.name, "no xtcp tunnel, handing the connection to [{f}]");
                    if let Err(e) = m.transfer(f, user) {
                        warn!(visitor = %t.cfg.name, "transfer connection to visitor [{f}] error: {e}");
                    }
                    return;
                }
            }
            warn!(visitor = %t.cfg.name, "no xtcp tunnel available, closing the user connection");
            return;
        };
        let tr = &t.cfg.transport;
        let mut remote = crate::client::xtcp::wrap_stream(
            stream.boxed(),
            &t.cfg.secret_key,
            tr.use_encryption,
            tr.use_compression,
        );
        match splice::splice(&mut user, &mut remote).await {
            Ok((up, down)) => {
                debug!(visitor = %t.cfg.name, "xtcp visitor connection closed, {up} bytes out, {down} bytes in")
            }
            Err(e) => debug!(visitor = %t.cfg.name, "xtcp visitor connection closed: {e}"),
        }
    };
    tokio::select! {
        _ = run => {}
        _ = end.cancelled() => {}
    }
}
