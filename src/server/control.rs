//! One logged-in client on frps (protocol.md §7): login checks, the encrypted control channel,
//! the work-connection pool, heartbeats, proxy registration and the clean-up when it ends.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncWriteExt, WriteHalf};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::freshness::{skew_text, MAX_SKEW};
use super::origin::Origin;
use super::plugin::{CloseProxyContent, LoginContent, NewProxyContent, PingContent, UserInfo};
use super::proxy::{self, running::RunningProxy};
use super::session::{ClientInfo, ControlHandle};
use super::{lock, Server};
use crate::config::types::AuthScope;
use crate::proto::crypto::auth_key_matches;
use crate::proto::msg::{self, Message};
use crate::proto::{self as proto_mod, errors};
use crate::transport::wrap::CryptoStream;
use crate::transport::BoxStream;

type Encrypted = CryptoStream<BoxStream>;

/// Serve a client whose first message was Login, until its session ends.
pub async fn serve(server: Arc<Server>, mut conn: BoxStream, login: msg::Login, origin: Origin) {
    let peer = origin.peer;
    let cfg = server.cfg();
    let user = login.user.clone();
    // Plugins see the Login first; what they return is what gets verified and registered.
    let checked = server
        .plugins
        .call(LoginContent {
            login,
            client_address: peer.to_string(),
        })
        .await
        .and_then(|c| check_login(&server, &cfg, &c.login, peer).map(|()| c.login));
    let login = match checked {
        Ok(login) => login,
        Err(detail) => {
            warn!(remote = %peer, user = %user, "login refused: {detail}");
            let resp = msg::LoginResp {
                version: crate::FRP_PROTOCOL_VERSION.into(),
                error: server.client_error(errors::REGISTER_CONTROL, &detail),
                ..Default::default()
            };
            let _ = proto_mod::write_msg(&mut conn, &Message::LoginResp(resp)).await;
            let _ = conn.shutdown().await;
            return;
        }
    };
    let run_id = if login.run_id.is_empty() {
        crate::rand_id()
    } else {
        login.run_id.clone()
    };
    // A reconnecting client reuses its run id: end the stale session and wait for its clean-up so
    // its proxy names and ports are free again.
    let tag = crate::client_tag(&run_id);
    let stale = lock(&server.controls).get(&run_id).cloned();
    if let Some(old) = stale {
        info!(client = %tag, "replacing the previous session of this client");
        old.cancel.cancel();
        old.done.cancelled().await;
    }
    let pool_count = login
        .pool_count
        .clamp(0, cfg.transport.max_pool_count.max(0)) as usize;
    let (out_tx, out_rx) = mpsc::channel(256);
    let (pool_tx, pool_rx) = mpsc::channel(pool_count + 10);
    let handle = Arc::new(ControlHandle {
        run_id: run_id.clone(),
        tag: tag.clone(),
        origin,
        user: login.user.clone(),
        metas: login.metas.clone(),
        token: cfg.auth.token.clone(),
        key: crate::proto::crypto::derive_key(cfg.auth.token.as_bytes()),
        pool_count,
        auth_work_conns: cfg
            .auth
            .additional_scopes
            .contains(&AuthScope::NewWorkConns),
        user_conn_timeout: Duration::from_secs(cfg.user_conn_timeout.max(1) as u64),
        out: out_tx,
        pool_tx,
        pool_rx: tokio::sync::Mutex::new(pool_rx),
        cancel: CancellationToken::new(),
        done: CancellationToken::new(),
        info: ClientInfo {
            version: login.version.clone(),
            hostname: login.hostname.clone(),
            os: login.os.clone(),
            arch: login.arch.clone(),
            address: peer,
            login_time: super::stats::local_now(),
        },
        counters: Arc::default(),
        proxy_count: AtomicUsize::new(0),
    });
    lock(&server.controls).insert(run_id.clone(), handle.clone());
    crate::daemon::notify::status(&server.status_line());

    let resp = msg::LoginResp {
        version: crate::FRP_PROTOCOL_VERSION.into(),
        run_id: run_id.clone(),
        error: String::new(),
    };
    if let Err(e) = proto_mod::write_msg(&mut conn, &Message::LoginResp(resp)).await {
        warn!(client = %tag, "write LoginResp: {e}");
    } else {
        info!(
            client = %tag, user = %login.user, remote = %peer,
            "client login info: ip [{peer}] version [{}] hostname [{}] os [{}] arch [{}]",
            login.version, login.hostname, login.os, login.arch
        );
        let (reader, writer) = tokio::io::split(CryptoStream::new(conn, handle.key));
        let writer_task = tokio::spawn(write_loop(writer, out_rx, handle.cancel.clone()));
        for _ in 0..pool_count {
            handle.send(Message::ReqWorkConn(msg::ReqWorkConn {})).await;
        }
        let (msgs, reader_task) = proto_mod::codec::spawn_reader(reader);
        let mut proxies = HashMap::new();
        read_loop(&server, &cfg, &handle, msgs, &mut proxies).await;
        // Stop both halves so the connection really closes: the writer shuts down its side on
        // cancel; the reader would otherwise keep the stream alive.
        handle.cancel.cancel();
        reader_task.abort();
        let mut writer_task = writer_task;
        if tokio::time::timeout(Duration::from_secs(1), &mut writer_task)
            .await
            .is_err()
        {
            writer_task.abort();
        }
        for (name, p) in proxies.drain() {
            proxy::running::close(&server, &name, p).await;
            notify_closed(&server, &handle, name);
        }
    }
    {
        let mut controls = lock(&server.controls);
        if controls
            .get(&run_id)
            .is_some_and(|c| Arc::ptr_eq(c, &handle))
        {
            controls.remove(&run_id);
        }
    }
    // Dropping pooled work connections closes them.
    if let Ok(mut rx) = handle.pool_rx.try_lock() {
        rx.close();
        while rx.try_recv().is_ok() {}
    }
    handle.done.cancel();
    info!(client = %tag, "client session closed");
    crate::daemon::notify::status(&server.status_line());
}

/// Tell the plugins (in the background) that a proxy of this client closed.
fn notify_closed(server: &Server, handle: &ControlHandle, proxy_name: String) {
    server.plugins.notify(CloseProxyContent {
        user: UserInfo::of(handle),
        close_proxy: msg::CloseProxy { proxy_name },
    });
}

fn check_login(
    server: &Server,
    cfg: &crate::config::ServerConfig,
    login: &msg::Login,
    peer: SocketAddr,
) -> Result<(), String> {
    if login.client_spec.always_auth_pass {
        // Only frps's own in-process clients (ssh gateway) may skip auth; never a network peer.
        return Err("always_auth_pass is not accepted from network clients".into());
    }
    if !auth_key_matches(&cfg.auth.token, login.timestamp, &login.privilege_key) {
        return Err(errors::TOKEN_MISMATCH_LOGIN.into());
    }
    // Names end up in logs and proxy names: a control character in one is never legitimate.
    crate::escape::check_no_control("user", &login.user)?;
    crate::escape::check_no_control("run id", &login.run_id)?;
    // Freshness (see super::freshness): warn by default, refuse with auth.rejectStaleLogins.
    let now = crate::unix_now();
    let skew = now - login.timestamp;
    let strict = cfg.auth.reject_stale_logins;
    if skew.abs() > MAX_SKEW {
        let off = skew_text(skew);
        if strict {
            return Err(format!("login timestamp is {off} frps's clock, more than 15 minutes (auth.rejectStaleLogins)"));
        }
        warn!(remote = %peer, user = %login.user, "login timestamp is {off} frps's clock, more than 15 minutes: accepted (auth.rejectStaleLogins = true refuses such logins)");
    }
    if strict
        && !server
            .seen_logins
            .first_use(&login.privilege_key, login.timestamp, now)
    {
        return Err("login refused as a replay: its privilege key was already used (auth.rejectStaleLogins)".into());
    }
    Ok(())
}

async fn write_loop(
    mut w: WriteHalf<Encrypted>,
    mut rx: mpsc::Receiver<Message>,
    cancel: CancellationToken,
) {
    loop {
        let m = tokio::select! {
            m = rx.recv() => m,
            _ = cancel.cancelled() => None,
        };
        let Some(m) = m else { break };
        if let Err(e) = proto_mod::write_msg(&mut w, &m).await {
            debug!("control write error: {e}");
            cancel.cancel();
            break;
        }
    }
    let _ = w.shutdown().await;
}

/// Queues a NatHoleResp on this client's control connection (dropped when the queue is full
/// or the session is gone: the peer then times out).
fn responder(handle: &Arc<ControlHandle>) -> crate::nathole::controller::Responder {
    let out = handle.out.clone();
    Arc::new(move |resp| {
        if out.try_send(Message::NatHoleResp(resp)).is_err() {
            debug!("control queue closed or full, NatHoleResp dropped");
        }
    })
}

/// `cfg` is the configuration at login: a session keeps its heartbeat settings.
async fn read_loop(
    server: &Arc<Server>,
    cfg: &crate::config::ServerConfig,
    handle: &Arc<ControlHandle>,
    mut msgs: mpsc::Receiver<Result<Message, proto_mod::ProtoError>>,
    proxies: &mut HashMap<String, RunningProxy>,
) {
    let hb_timeout = cfg.heartbeat_timeout();
    let auth_pings = cfg.auth.additional_scopes.contains(&AuthScope::HeartBeats);
    // The heartbeat deadline is a timer armed only when heartbeats are on (with tcpMux, frp's
    // default, they are off): an idle client wakes frps for nothing.
    let hb_timeout = (hb_timeout > 0).then(|| Duration::from_secs(hb_timeout as u64));
    let mut last_ping = Instant::now();
    loop {
        let heartbeat_due = async {
            match hb_timeout {
                Some(t) => tokio::time::sleep_until((last_ping + t).into()).await,
                None => std::future::pending().await,
            }
        };
        let m = tokio::select! {
            // In this order: the end of the session, then messages (those queued while a
            // plugin call ran still count as heartbeats), then the heartbeat deadline.
            biased;
            _ = handle.cancel.cancelled() => return,
            m = msgs.recv() => m,
            _ = heartbeat_due => {
                warn!(client = %handle.tag, "heartbeat timeout");
                return;
            }
        };
        let m = match m {
            Some(Ok(m)) => m,
            Some(Err(e)) if e.is_disconnect() => return,
            Some(Err(e)) => {
                warn!(client = %handle.tag, "control read error: {e}");
                return;
            }
            None => return,
        };
        match m {
            Message::NewProxy(p) => {
                let mut name = p.proxy_name.clone();
                // Plugins may rewrite the proxy; the result is what gets registered.
                let content = NewProxyContent {
                    user: UserInfo::of(handle),
                    new_proxy: p,
                };
                let checked = tokio::select! {
                    r = server.plugins.call(content) => r,
                    _ = handle.cancel.cancelled() => return,
                };
                let registered = checked.and_then(|c| {
                    name = c.new_proxy.proxy_name.clone();
                    proxy::register(server, handle, c.new_proxy, proxies)
                });
                let resp = match registered {
                    Ok(remote_addr) => msg::NewProxyResp {
                        proxy_name: name,
                        remote_addr,
                        error: String::new(),
                    },
                    Err(detail) => {
                        warn!(client = %handle.tag, proxy_name = %name, "new proxy error: {detail}");
                        let error = server.client_error(&errors::new_proxy_summary(&name), &detail);
                        msg::NewProxyResp {
                            proxy_name: name,
                            remote_addr: String::new(),
                            error,
                        }
                    }
                };
                handle.proxy_count.store(proxies.len(), Ordering::Relaxed);
                handle.send(Message::NewProxyResp(resp)).await;
            }
            Message::CloseProxy(c) => {
                if let Some(p) = proxies.remove(&c.proxy_name) {
                    info!(client = %handle.tag, proxy_name = %c.proxy_name, "close proxy");
                    proxy::running::close(server, &c.proxy_name, p).await;
                    handle.proxy_count.store(proxies.len(), Ordering::Relaxed);
                    notify_closed(server, handle, c.proxy_name);
                }
            }
            Message::Ping(ping) => {
                // Plugins see the Ping before it is verified.
                let content = PingContent {
                    user: UserInfo::of(handle),
                    ping,
                };
                let checked = tokio::select! {
                    r = server.plugins.call(content) => r,
                    _ = handle.cancel.cancelled() => return,
                };
                let checked = checked.and_then(|c| {
                    let ping = c.ping;
                    if auth_pings
                        && !auth_key_matches(&handle.token, ping.timestamp, &ping.privilege_key)
                    {
                        return Err(errors::TOKEN_MISMATCH_HEARTBEAT.to_string());
                    }
                    Ok(())
                });
                let resp = match checked {
                    Ok(()) => {
                        last_ping = Instant::now();
                        msg::Pong::default()
                    }
                    Err(detail) => {
                        warn!(client = %handle.tag, "invalid ping: {detail}");
                        msg::Pong {
                            error: server.client_error(errors::INVALID_PING, &detail),
                        }
                    }
                };
                handle.send(Message::Pong(resp)).await;
            }
            Message::NatHoleVisitor(m) => {
                let controller = server.nathole.clone();
                let user = handle.user.clone();
                let reply = responder(handle);
                tokio::spawn(async move { controller.handle_visitor(m, &user, reply).await });
            }
            Message::NatHoleClient(m) => server.nathole.handle_client(m, responder(handle)),
            Message::NatHoleReport(m) => server.nathole.handle_report(&m),
            other => debug!(client = %handle.tag, "ignoring {} on control", other.name()),
        }
    }
}
