//! frps's bind port: accept, sniff TLS, run yamux, and dispatch each logical connection on its
//! first message (protocol.md §2.2, §7.1). A bad peer only ever loses its own connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use super::origin::Origin;
use super::plugin::{NewWorkConnContent, UserInfo};
use super::{control, vhost, Server};
use crate::config::load::ConfigSource;
use crate::daemon::log_limit::LogLimit;
use crate::daemon::signals::next_reload;
use crate::daemon::{notify, Lifecycle};
use crate::proto::{self, msg, Message};
use crate::transport::accept::Acceptor;
use crate::transport::mux::{self, MuxConfig};
use crate::transport::prefixed::Prefixed;
use crate::transport::tls::{sniff, Sniffed};
use crate::transport::{tcp, BoxStream};

const FIRST_MSG_TIMEOUT: Duration = Duration::from_secs(10);

/// Run frps until a stop is requested; `source` is the file a reload (SIGHUP) reads again.
pub async fn run(
    cfg: crate::config::ServerConfig,
    source: Option<ConfigSource>,
    life: Lifecycle,
) -> anyhow::Result<()> {
    let Lifecycle {
        stop, mut reloads, ..
    } = life;
    let server = Server::new(cfg)?;
    let cfg = server.cfg();
    let listener = tcp::listen(&cfg.bind_addr, cfg.bind_port as u16)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "listen on {}: {e}",
                tcp::join_host_port(&cfg.bind_addr, cfg.bind_port as u16)
            )
        })?;
    info!("frps tcp listen on {}", listener.local_addr()?);
    let mut listener = Acceptor::new(listener, "bind port");
    start_vhost_listeners(&server).await?;
    if cfg.web_server.port > 0 {
        let web = super::web::bind(&cfg.web_server).await?;
        tokio::spawn(super::web::serve(server.clone(), web));
    }
    {
        // natholeAnalysisDataReserveHours: drop stale punching scores hourly.
        let server = server.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => { server.nathole.clean(); }
                    _ = server.stopping.cancelled() => return,
                }
            }
        });
    }
    info!("frps started successfully");
    notify::ready(&server.status_line());
    notify::spawn_watchdog();
    // STATUS= follows the connection count too, without a message per connection.
    let mut status_tick = tokio::time::interval(Duration::from_secs(2));
    let mut last_status = server.status_line();
    loop {
        tokio::select! {
            _ = status_tick.tick() => {
                let line = server.status_line();
                if line != last_status {
                    notify::status(&line);
                    last_status = line;
                }
            }
            a = listener.accept() => {
                let server = server.clone();
                tokio::spawn(async move { handle_conn(server, a.stream, a.peer).await });
            }
            _ = next_reload(&mut reloads) => super::reload::reload(&server, source.as_ref()),
            _ = stop.requested() => break,
        }
    }
    info!("frps is stopping");
    notify::stopping();
    // Stop accepting (the bind port and every proxy port), then let the connections already
    // flowing finish, up to gracefulStopTimeout or a second signal.
    drop(listener);
    server.stopping.cancel();
    let limit = server.cfg().graceful_stop_timeout;
    let open = server.stats.cur_conns();
    if open > 0 && limit > 0 {
        info!("waiting up to {limit}s for {open} connections to finish");
        let drained = stop
            .drain(Duration::from_secs(limit as u64), || {
                server.stats.cur_conns() == 0
            })
            .await;
        if !drained {
            warn!(
                "stopping with {} connections still open",
                server.stats.cur_conns()
            );
        }
    }
    Ok(())
}

/// Which vhost servers share the bind port (frp's rule, protocol.md §2.3: same port, and
/// proxies bind where frps binds).
fn vhost_on_bind_port(cfg: &crate::config::ServerConfig) -> (bool, bool) {
    let same_addr = cfg.bind_addr == cfg.proxy_bind_addr;
    (
        same_addr && cfg.vhost_http_port == cfg.bind_port,
        same_addr && cfg.vhost_https_port == cfg.bind_port,
    )
}

/// Bind the vhost http, https and tcpmux listeners that have ports of their own.
async fn start_vhost_listeners(server: &Arc<Server>) -> anyhow::Result<()> {
    let cfg = server.cfg();
    let (http_shared, https_shared) = vhost_on_bind_port(&cfg);
    let bind = |port: i64, what: &'static str| {
        let addr = cfg.proxy_bind_addr.clone();
        async move {
            let l = tcp::listen(&addr, port as u16).await.map_err(|e| {
                anyhow::anyhow!(
                    "{what}: listen on {}: {e}",
                    tcp::join_host_port(&addr, port as u16)
                )
            })?;
            info!(
                "{what} listen on {}",
                tcp::join_host_port(&addr, port as u16)
            );
            anyhow::Ok(Acceptor::new(l, what))
        }
    };
    if cfg.vhost_http_port > 0 && !http_shared {
        let l = bind(cfg.vhost_http_port, "http service").await?;
        tokio::spawn(accept_each(
            server.clone(),
            l,
            |server, conn, peer, _| async move { vhost::http::serve_conn(server, conn, peer).await },
        ));
    }
    if cfg.vhost_https_port > 0 && !https_shared {
        let l = bind(cfg.vhost_https_port, "https service").await?;
        tokio::spawn(accept_each(
            server.clone(),
            l,
            |server, conn, peer, dst| async move {
                vhost::https::serve_conn(server, conn, peer, dst).await
            },
        ));
    }
    if cfg.tcpmux_http_connect_port > 0 {
        let l = bind(
            cfg.tcpmux_http_connect_port,
            "tcpmux httpconnect multiplexer",
        )
        .await?;
        tokio::spawn(accept_each(
            server.clone(),
            l,
            |server, conn, peer, dst| async move {
                vhost::tcpmux::serve_conn(server, conn, peer, dst).await
            },
        ));
    }
    Ok(())
}

/// Accept on `listener` until frps stops, running `serve` for each connection.
async fn accept_each<F, Fut>(server: Arc<Server>, listener: Acceptor, serve: F)
where
    F: Fn(Arc<Server>, TcpStream, SocketAddr, Option<SocketAddr>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let stop = server.stopping.clone();
    listener
        .serve_until(stop.cancelled_owned(), |a| {
            let dst = a.stream.local_addr().ok();
            tokio::spawn(serve(server.clone(), a.stream, a.peer, dst));
        })
        .await
}

/// The first bytes of an HTTP/1 request, as frp's bind-port muxer matches them.
const HTTP_METHOD_PREFIXES: [&[u8; 3]; 9] = [
    b"GET", b"HEA", b"POS", b"PUT", b"DEL", b"CON", b"OPT", b"TRA", b"PAT",
];

async fn handle_conn(server: Arc<Server>, mut stream: TcpStream, peer: SocketAddr) {
    // Until its first message (Login, NewWorkConn or NewVisitorConn) is read, a connection has
    // proved nothing: everything up to it (sniffing, the TLS handshake, the first yamux stream)
    // shares one deadline, frp's 10 s, whatever the peer sends or does not send.
    let deadline = tokio::time::Instant::now() + FIRST_MSG_TIMEOUT;
    let cfg = server.cfg();
    tcp::set_keepalive(&stream, cfg.transport.tcp_keepalive);
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().ok();
    // With vhost http/https on the bind port, the first bytes decide who gets the connection.
    let (http_shared, https_shared) = vhost_on_bind_port(&cfg);
    let mut head = Vec::new();
    if http_shared || https_shared {
        head = match read_head(&mut stream, 3, deadline).await {
            Ok(h) => h,
            Err(e) => {
                debug!(remote = %peer, "closing connection: {e}");
                return;
            }
        };
        let dst = stream.local_addr().ok();
        if http_shared
            && HTTP_METHOD_PREFIXES
                .iter()
                .any(|m| head.starts_with(&m[..]))
        {
            let conn = Prefixed::new(head, stream);
            return Box::pin(vhost::http::serve_conn(server, conn, peer)).await;
        }
        if https_shared && head.first() == Some(&0x16) {
            // A ClientHello: an https user when its server name has a route, else frpc's own
            // TLS. (frp sends every 0x16 to the https muxer, so there frpc needs the 0x17 byte.)
            let mut conn = Prefixed::new(head, stream);
            let hello =
                tokio::time::timeout_at(deadline, vhost::https::read_hello(&mut conn, peer));
            let Ok(Some((hello, name))) = hello.await else {
                return;
            };
            if let Some(target) = vhost::https::route(&server, &name) {
                return Box::pin(vhost::https::serve_routed(
                    &server, &target, hello, &name, conn, peer, dst,
                ))
                .await;
            }
            let (unread, inner) = conn.into_parts();
            head = hello;
            head.extend_from_slice(&unread);
            stream = inner;
        }
    }
    let stream = Prefixed::new(head, stream);
    // Boxed, like every large step below: a task's memory is its largest state, held for the
    // connection's whole life, so what only some connections need is allocated apart.
    let Some((conn, tls)) = Box::pin(secure(&server, stream, peer, deadline)).await else {
        return;
    };
    debug!(remote = %peer, "new connection (tls: {tls}, tcp mux: {})", cfg.transport.tcp_mux);
    let origin = Origin::accepted(peer, cfg.transport.tcp_mux);
    if !cfg.transport.tcp_mux {
        if let Some((conn, first)) = read_first(conn, peer, deadline).await {
            Box::pin(dispatch(server, conn, first, origin, local)).await;
        }
        return;
    }
    let interval = cfg.transport.tcp_mux_keepalive_interval;
    let mux_cfg = MuxConfig {
        keepalive_interval: (interval > 0).then(|| Duration::from_secs(interval as u64)),
        ..MuxConfig::default()
    };
    // Nothing of a session is built before its first frame header has arrived: a peer that
    // connects (or finishes TLS) and then stays silent holds a couple of KiB, not a session.
    let mut conn = conn;
    let mut header = [0u8; mux::HEADER_LEN];
    let read = tokio::time::timeout_at(deadline, conn.read_exact(&mut header)).await;
    if !matches!(read, Ok(Ok(_))) {
        debug!(remote = %peer, "no yamux frame within {}s, closing", FIRST_MSG_TIMEOUT.as_secs());
        return;
    }
    let conn = Prefixed::new(header.to_vec(), conn);
    let session = mux::Session::new(conn, mux::Mode::Server, mux_cfg);
    // The first stream must open, and carry its first message, by the deadline too.
    let first = tokio::time::timeout_at(deadline, session.accept()).await;
    let Ok(Some(stream)) = first else {
        debug!(remote = %peer, "no yamux stream within {}s, closing", FIRST_MSG_TIMEOUT.as_secs());
        session.close();
        return;
    };
    let Some((stream, first)) = read_first(Box::new(stream), peer, deadline).await else {
        session.close();
        return;
    };
    if !matches!(first, Message::Login(_)) {
        // Only a Login opens a session to more streams (Go frpc and ours send it first, on
        // the first stream); anything else is served alone and the session ends with it, so
        // a peer that proved nothing cannot hold the connection open.
        Box::pin(dispatch(server, stream, first, origin, local)).await;
        session.close();
        return;
    }
    {
        let server = server.clone();
        tokio::spawn(async move { dispatch(server, stream, first, origin, local).await });
    }
    while let Some(stream) = session.accept().await {
        let server = server.clone();
        tokio::spawn(async move {
            // Later streams of an established session: 10 s each for their first message.
            let deadline = tokio::time::Instant::now() + FIRST_MSG_TIMEOUT;
            if let Some((conn, first)) = read_first(Box::new(stream), peer, deadline).await {
                dispatch(server, conn, first, origin, local).await;
            }
        });
    }
    debug!(remote = %peer, "mux session closed");
}

/// TLS when the first byte asks for it (or `transport.tls.force`), finished by `deadline`;
/// the connection and whether it is TLS, or None when it was closed.
async fn secure(
    server: &Server,
    stream: Prefixed<TcpStream>,
    peer: SocketAddr,
    deadline: tokio::time::Instant,
) -> Option<(BoxStream, bool)> {
    let force = server.cfg().transport.tls.force;
    match tokio::time::timeout_at(deadline, sniff(stream, force)).await {
        Ok(Ok(Sniffed::Tls(s))) => {
            // A peer that starts a handshake and stalls must not hold its socket for ever.
            let handshake = TlsAcceptor::from(server.tls.clone()).accept(s);
            match tokio::time::timeout_at(deadline, handshake).await {
                Ok(Ok(stream)) => Some((Box::new(stream), true)),
                Ok(Err(e)) => {
                    warn!(remote = %peer, "tls handshake failed: {e}");
                    None
                }
                Err(_) => {
                    debug!(remote = %peer, "tls handshake not done within {}s", FIRST_MSG_TIMEOUT.as_secs());
                    None
                }
            }
        }
        Ok(Ok(Sniffed::Plain(s))) => Some((Box::new(s), false)),
        Ok(Err(e)) => {
            debug!(remote = %peer, "closing connection: {e}");
            None
        }
        Err(_) => {
            debug!(remote = %peer, "no data within {}s, closing", FIRST_MSG_TIMEOUT.as_secs());
            None
        }
    }
}

/// Read up to `n` bytes (fewer only at EOF) by `deadline`.
async fn read_head(
    stream: &mut TcpStream,
    n: usize,
    deadline: tokio::time::Instant,
) -> std::io::Result<Vec<u8>> {
    let mut head = vec![0u8; n];
    let mut got = 0;
    let read = async {
        while got < n {
            let k = stream.read(&mut head[got..]).await?;
            if k == 0 {
                break;
            }
            got += k;
        }
        std::io::Result::Ok(())
    };
    tokio::time::timeout_at(deadline, read)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no data within 10s"))??;
    if got == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "early eof",
        ));
    }
    head.truncate(got);
    Ok(head)
}

/// The first message of a logical connection (a yamux stream or a whole connection), read by
/// `deadline`; None (logged) when it does not come.
async fn read_first(
    mut conn: BoxStream,
    peer: SocketAddr,
    deadline: tokio::time::Instant,
) -> Option<(BoxStream, Message)> {
    match tokio::time::timeout_at(deadline, proto::read_msg(&mut conn)).await {
        Ok(Ok(m)) => Some((conn, m)),
        Ok(Err(e)) => {
            warn!(remote = %peer, "failed to read first message: {e}");
            None
        }
        Err(_) => {
            warn!(remote = %peer, "no message within {}s, closing", FIRST_MSG_TIMEOUT.as_secs());
            None
        }
    }
}

/// Serve a logical connection by its first message. `local` is frps's own address of the
/// physical connection.
async fn dispatch(
    server: Arc<Server>,
    conn: BoxStream,
    first: Message,
    origin: Origin,
    local: Option<SocketAddr>,
) {
    let peer = origin.peer;
    match first {
        Message::Login(login) => control::serve(server, conn, login, origin).await,
        Message::NewWorkConn(m) => register_work_conn(&server, conn, m, origin).await,
        Message::NewVisitorConn(m) => {
            super::proxy::visitor::serve_conn(server, conn, m, origin, local).await
        }
        other => warn!(remote = %peer, "unexpected first message {}, closing", other.name()),
    }
}

/// A NewWorkConn joins its client's pool only when it comes from that client (see
/// [`super::origin`]); anything else is closed, and logged at most once a minute.
async fn register_work_conn(
    server: &Server,
    mut conn: BoxStream,
    m: msg::NewWorkConn,
    origin: Origin,
) {
    static REFUSED: LogLimit = LogLimit::new(Duration::from_secs(60));
    let peer = origin.peer;
    let Some(ctl) = server.control(&m.run_id) else {
        if let Some(left_out) = REFUSED.check() {
            warn!(remote = %peer, "refused a work connection for an unknown client ({left_out} more refusals not logged)");
        }
        return;
    };
    let from_client = origin.same_client_as(&ctl.origin)
        || (!origin.muxed()
            && crate::proto::crypto::auth_key_matches(&ctl.token, m.timestamp, &m.privilege_key));
    if !from_client {
        if let Some(left_out) = REFUSED.check() {
            warn!(remote = %peer, client = %ctl.tag, "refused a work connection that did not come by the client's own connection ({left_out} more refusals not logged)");
        }
        return;
    }
    // Plugins see (and may rewrite) the NewWorkConn before it is verified.
    let checked = server
        .plugins
        .call(NewWorkConnContent {
            user: UserInfo::of(&ctl),
            new_work_conn: m,
        })
        .await
        .and_then(|c| {
            let m = c.new_work_conn;
            if ctl.auth_work_conns
                && !crate::proto::crypto::auth_key_matches(
                    &ctl.token,
                    m.timestamp,
                    &m.privilege_key,
                )
            {
                return Err(crate::proto::errors::TOKEN_MISMATCH_WORK_CONN.to_string());
            }
            Ok(())
        });
    if let Err(detail) = checked {
        warn!(remote = %peer, client = %ctl.tag, "invalid NewWorkConn: {detail}");
        let resp = msg::StartWorkConn {
            error: server.client_error(crate::proto::errors::INVALID_NEW_WORK_CONN, &detail),
            ..Default::default()
        };
        let _ = proto::write_msg(&mut conn, &Message::StartWorkConn(resp)).await;
        return;
    }
    ctl.put_work_conn(conn);
}

#[cfg(test)]
mod tests {
    /// Every accepted connection's task holds its largest state for its whole life, before it
    /// has proved anything: it must stay small (the TLS handshake, vhost serving and the
    /// client session are allocated apart, only when reached).
    #[tokio::test]
    async fn a_connection_task_is_small_until_it_needs_more() {
        let server = super::Server::new(crate::config::ServerConfig::default()).unwrap();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _c = tokio::net::TcpStream::connect(l.local_addr().unwrap())
            .await
            .unwrap();
        let (s, peer) = l.accept().await.unwrap();
        let task = super::handle_conn(server, s, peer);
        assert!(
            std::mem::size_of_val(&task) <= 2048,
            "{} bytes",
            std::mem::size_of_val(&task)
        );
    }
}
