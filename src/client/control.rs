//! One logged-in frpc session (protocol.md §7.3–§7.7): the encrypted control channel, proxy
//! registration, work connections on request, heartbeats, and a graceful goodbye.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncWriteExt, WriteHalf};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::connector::Connector;
use super::proxy::Proxies;
use crate::config::types::AuthScope;
use crate::config::ClientConfig;
use crate::daemon::notify;
use crate::daemon::shutdown::Shutdown;
use crate::proto::crypto::auth_key;
use crate::proto::msg::{self, Message};
use crate::proto::{self as proto_mod};
use crate::transport::wrap::CryptoStream;
use crate::transport::BoxStream;

type Encrypted = CryptoStream<BoxStream>;

/// Everything a session's tasks share.
pub struct Session {
    pub cfg: Arc<ClientConfig>,
    pub connector: Connector,
    pub run_id: String,
    pub key: [u8; 16],
    pub proxies: Arc<Proxies>,
    /// Cancelled when the session ends; work-connection tasks stop with it.
    pub cancel: CancellationToken,
    /// Cancelled by a reload that changed how frpc talks to frps: say goodbye and log in again.
    pub reconnect: CancellationToken,
    /// NatHole* requests over this control connection (xtcp).
    pub nathole: Arc<super::xtcp::Hub>,
}

impl Session {
    /// One line for `STATUS=`: server, login state and proxies.
    pub fn status_line(&self) -> String {
        let (running, failed, total) = self.proxies.counts();
        format!(
            "logged in to {} (client {}); proxies: {running} running, {failed} failed, {total} configured{}",
            crate::transport::tcp::join_host_port(&self.cfg.server_addr, self.cfg.server_port as u16),
            crate::client_tag(&self.run_id),
            crate::web::status_note(&self.cfg.web_server, "admin API")
        )
    }
}

/// Why a session ended.
pub enum End {
    /// The connection to frps was lost or frps closed it: reconnect.
    Lost,
    /// We were asked to stop.
    Shutdown,
    /// A reload changed the session settings (server, token, transport): log in again.
    Reconnect,
}

pub async fn run(session: Arc<Session>, control: BoxStream, stop: &Shutdown) -> End {
    let (reader, writer) = tokio::io::split(CryptoStream::new(control, session.key));
    let (out, out_rx) = mpsc::channel::<Message>(256);
    let writer_task = tokio::spawn(write_loop(writer, out_rx));
    session.nathole.set_out(Some(out.clone()));
    let (mut msgs, reader_task) = proto_mod::codec::spawn_reader(reader);
    session.proxies.reset();
    session.proxies.set_online(true);

    let cfg = &session.cfg;
    let hb_interval = cfg.heartbeat_interval();
    let hb_timeout = cfg.heartbeat_timeout();
    let mut last_pong = Instant::now();
    let mut heartbeat = tokio::time::interval(Duration::from_secs(hb_interval.max(1) as u64));
    // Armed only while a proxy waits to be sent again (no answer from frps, or refused):
    // an idle frpc with heartbeats off wakes for nothing.
    let retry = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(retry);
    // Register every proxy at once; later, changes (reload, health checks) and retries do.
    // Looked up again only after what can move a proxy into or out of waiting: sending
    // NewProxy, and frps's answer to it (not on every message: ReqWorkConn comes per user
    // connection).
    let mut retry_at = send_due(&session, &out).await;

    let end = loop {
        if let Some(at) = retry_at.map(tokio::time::Instant::from_std) {
            if retry.deadline() != at {
                retry.as_mut().reset(at);
            }
        }
        tokio::select! {
            m = msgs.recv() => match m {
                Some(Ok(m)) => {
                    let answer = matches!(m, Message::NewProxyResp(_));
                    if let Some(end) = handle_msg(&session, m, &mut last_pong) {
                        break end;
                    }
                    if answer {
                        retry_at = session.proxies.next_retry();
                    }
                }
                Some(Err(e)) => {
                    if e.is_disconnect() {
                        info!("control connection closed by the server");
                    } else {
                        warn!("control read error: {e}");
                    }
                    break End::Lost;
                }
                None => break End::Lost,
            },
            _ = &mut retry, if retry_at.is_some() => retry_at = send_due(&session, &out).await,
            _ = session.proxies.changed.notified() => {
                // A reload or a health check: close what went away, changed or failed its
                // check, then register what is new or healthy again.
                for name in session.proxies.take_pending_close() {
                    info!(proxy_name = %name, "[{name}] close proxy");
                    let _ = out
                        .send(Message::CloseProxy(msg::CloseProxy { proxy_name: name }))
                        .await;
                }
                retry_at = send_due(&session, &out).await;
                notify::status(&session.status_line());
            }
            _ = heartbeat.tick(), if hb_interval > 0 => {
                if hb_timeout > 0 && last_pong.elapsed() > Duration::from_secs(hb_timeout as u64) {
                    warn!("heartbeat timeout");
                    break End::Lost;
                }
                let _ = out.send(Message::Ping(ping(cfg))).await;
            }
            _ = session.connector.closed() => {
                info!("connection to the server closed");
                break End::Lost;
            }
            _ = session.reconnect.cancelled() => break End::Reconnect,
            _ = stop.requested() => break End::Shutdown,
        }
    };
    if matches!(end, End::Shutdown | End::Reconnect) {
        // Tell frps which proxies go away, so it stops accepting for them at once.
        for name in session.proxies.close_all() {
            let _ = out
                .send(Message::CloseProxy(msg::CloseProxy { proxy_name: name }))
                .await;
        }
    }
    if matches!(end, End::Shutdown) {
        info!("frpc is stopping");
        notify::stopping();
        // Connections already flowing may finish, up to gracefulStopTimeout (or a second signal).
        let active = session.proxies.active_connections();
        if active > 0 && cfg.graceful_stop_timeout > 0 {
            info!(
                "waiting up to {}s for {active} connections to finish",
                cfg.graceful_stop_timeout
            );
            let limit = Duration::from_secs(cfg.graceful_stop_timeout as u64);
            if !stop
                .drain(limit, || session.proxies.active_connections() == 0)
                .await
            {
                warn!(
                    "stopping with {} connections still open",
                    session.proxies.active_connections()
                );
            }
        }
    }
    session.nathole.set_out(None);
    // The writer flushes what is queued and half-closes the control stream. On shutdown, frps
    // answers that by closing its side; wait briefly for it so our CloseProxy surely arrived.
    drop(out);
    let mut writer_task = writer_task;
    if tokio::time::timeout(Duration::from_secs(1), &mut writer_task)
        .await
        .is_err()
    {
        writer_task.abort();
    }
    if matches!(end, End::Shutdown | End::Reconnect) {
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while let Some(Ok(_)) = msgs.recv().await {}
        })
        .await;
    }
    reader_task.abort();
    session.proxies.set_online(false);
    session.cancel.cancel();
    session.connector.close();
    end
}

/// Send NewProxy for every proxy due; then when the next one waiting is due again.
async fn send_due(session: &Session, out: &mpsc::Sender<Message>) -> Option<Instant> {
    for p in session.proxies.due() {
        debug!(proxy_name = %p.proxy_name, "send NewProxy");
        if out.send(Message::NewProxy(p)).await.is_err() {
            break;
        }
    }
    session.proxies.next_retry()
}

fn ping(cfg: &ClientConfig) -> msg::Ping {
    if cfg.auth.additional_scopes.contains(&AuthScope::HeartBeats) {
        let ts = crate::unix_now();
        msg::Ping {
            privilege_key: auth_key(&cfg.auth.token, ts),
            timestamp: ts,
        }
    } else {
        msg::Ping::default()
    }
}

fn handle_msg(session: &Arc<Session>, m: Message, last_pong: &mut Instant) -> Option<End> {
    match m {
        Message::ReqWorkConn(_) => {
            let s = session.clone();
            tokio::spawn(async move {
                let cancel = s.cancel.clone();
                tokio::select! {
                    _ = work_conn(&s) => {}
                    _ = cancel.cancelled() => {}
                }
            });
        }
        Message::NewProxyResp(resp) => {
            session.proxies.on_resp(&resp);
            notify::status(&session.status_line());
        }
        Message::Pong(p) => {
            if !p.error.is_empty() {
                warn!("pong contains error: {}", p.error);
                return Some(End::Lost);
            }
            *last_pong = Instant::now();
        }
        Message::NatHoleResp(resp) => session.nathole.on_resp(resp),
        other => debug!("ignoring {} on control", other.name()),
    }
    None
}

/// Answer one ReqWorkConn: open a logical connection, announce it, wait (without limit, as
/// frp does) for StartWorkConn, then serve the proxy it names.
async fn work_conn(s: &Arc<Session>) {
    let mut conn = match s.connector.open().await {
        Ok(c) => c,
        Err(e) => {
            warn!("failed to open work connection: {e}");
            return;
        }
    };
    let mut m = msg::NewWorkConn {
        run_id: s.run_id.clone(),
        ..Default::default()
    };
    if s.cfg
        .auth
        .additional_scopes
        .contains(&AuthScope::NewWorkConns)
    {
        m.timestamp = crate::unix_now();
        m.privilege_key = auth_key(&s.cfg.auth.token, m.timestamp);
    }
    if let Err(e) = proto_mod::write_msg(&mut conn, &Message::NewWorkConn(m)).await {
        warn!("failed to send NewWorkConn: {e}");
        return;
    }
    let start = match proto_mod::read_msg(&mut conn).await {
        Ok(Message::StartWorkConn(s)) => s,
        Ok(other) => {
            warn!("expected StartWorkConn, got {}", other.name());
            return;
        }
        Err(e) => {
            debug!("work connection closed before StartWorkConn: {e}");
            return;
        }
    };
    if !start.error.is_empty() {
        warn!("StartWorkConn contains error: {}", start.error);
        return;
    }
    if let Some(cfg) = s.proxies.xtcp_config(&start.proxy_name) {
        super::xtcp::serve_owner(
            s.nathole.clone(),
            s.cfg.clone(),
            s.cancel.clone(),
            conn,
            cfg,
        )
        .await;
        return;
    }
    let udp_packet_size = s.cfg.udp_packet_size.clamp(0, 65535) as usize;
    super::work_conn::serve(&s.proxies, &s.key, conn, start, udp_packet_size).await;
}

async fn write_loop(mut w: WriteHalf<Encrypted>, mut rx: mpsc::Receiver<Message>) {
    while let Some(m) = rx.recv().await {
        if let Err(e) = proto_mod::write_msg(&mut w, &m).await {
            debug!("control write error: {e}");
            break;
        }
    }
    let _ = w.shutdown().await;
}
